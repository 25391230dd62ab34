"""Start the double (as a real separate process by default) and drive its control API."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import uvicorn

from .app import create_app
from .config import (
    DEFAULT_JWT_SECRET,
    DEFAULT_MAILER_OTP_EXP,
    DEFAULT_PUBLISHABLE_KEY,
    DEFAULT_SECRET_KEY,
    DoubleConfig,
    Mode,
)
from .server import uvicorn_config

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


class SupabaseDouble:
    """A running double. `base_url` is the *project* URL; Supabase Auth lives under
    `auth_url` (= base_url + "/auth/v1"). The helpers call the control API (`/__double`)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._control = httpx.Client(base_url=f"{base_url}/__double", timeout=10.0)
        config = self.config()
        self.mode: Mode = config["mode"]
        self.jwt_secret: str = config["jwt_secret"]
        self.anon_key: str = config["anon_key"]
        self.service_key: str = config["service_key"]
        self.publishable_key: str = config["publishable_key"]
        self.secret_key: str = config["secret_key"]

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/auth/v1"

    @property
    def jwks_url(self) -> str:
        return f"{self.auth_url}/.well-known/jwks.json"

    def close(self) -> None:
        self._control.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._control.request(method, path, json=body)
        if response.status_code >= 400:
            status, text = response.status_code, response.text
            raise RuntimeError(f"control API {method} {path}: {status} {text}")
        return response.json() if response.content else None

    # --- state -------------------------------------------------------------------------

    def reset(self) -> None:
        """Clear users, sessions, faults, rate limits, counters and settings; restore the
        start-up signing key."""
        self._call("POST", "/reset")

    def stats(self) -> dict[str, Any]:
        """{"requests": {path: n}, "total_requests": n, "connections": n,
        "last_headers": {path: {lower-case header: value}}} (control calls excluded)."""
        result: dict[str, Any] = self._call("GET", "/stats")
        return result

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def configure(self, **settings: Any) -> dict[str, Any]:
        """issuer=str, omit_issuer=True, jwt_exp=int, refresh_token_reuse_interval=int,
        admin_roles=[...], password_min_length=int, create_user_db_latency=float,
        password_check_latency=float, token_write_latency=float,
        gateway_cookie=str (every answer then sets the cookie `__cf_bm`),
        mailer_otp_exp=int (seconds a link/OTP lives; 0 = 86400), site_url=str,
        uri_allow_list=[globs], secure_email_change_enabled=bool, mailer_autoconfirm=bool,
        smtp_max_frequency=float."""
        result: dict[str, Any] = self._call("POST", "/config", settings)
        return result

    # --- faults and limits -------------------------------------------------------------

    def set_fault(
        self,
        kind: str,
        *,
        seconds: float = 0.0,
        status: int | None = None,
        paths: list[str] | None = None,
        count: int | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> None:
        """kind: "delay" | "status" | "drop" | "html" | "none". `paths` like "/token" or
        "/auth/v1/token"; `count` = how many matching requests to affect."""
        spec = {"kind": kind, "seconds": seconds, "status": status, "paths": paths}
        spec.update(count=count, body=body, content_type=content_type)
        self._call("POST", "/faults", spec)

    def clear_fault(self) -> None:
        self._call("POST", "/faults", {"kind": "none"})

    def set_rate_limit(
        self,
        requests: int,
        *,
        per_seconds: float = 300.0,
        burst: int | None = None,
        header: str = "X-Forwarded-For",
        limiter: str = "token",
    ) -> None:
        """Per-IP token bucket keyed on `header`; `burst` defaults to `requests`. `limiter`:
        "token" (all of /token), "verify" (/verify) or "otp" (PUT /user)."""
        spec = {"requests": requests, "per_seconds": per_seconds, "burst": burst, "header": header}
        self._call("POST", "/rate_limit", {**spec, "limiter": limiter})

    def clear_rate_limit(self, limiter: str = "token") -> None:
        self._call("POST", "/rate_limit", {"requests": None, "limiter": limiter})

    def links(self, email: str | None = None) -> list[dict[str, Any]]:
        """What `POST /admin/generate_link` produced, oldest first: type, verification_type,
        email, new_email, user_id, email_otp, hashed_token, token (the slot's stored hash),
        action_link, redirect_to, created_at."""
        path = "/links" if email is None else f"/links?email={quote(email)}"
        result: list[dict[str, Any]] = self._call("GET", path)
        return result

    def mail(self) -> list[dict[str, Any]]:
        """The mails the double would have sent (PUT /user email changes), oldest first."""
        result: list[dict[str, Any]] = self._call("GET", "/mail")
        return result

    # --- users and tokens --------------------------------------------------------------

    def create_user_directly(
        self,
        email: str | None = None,
        password: str | None = None,
        *,
        email_confirm: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        """Create a user without the API (confirmed unless email_confirm=False). Other
        admin-create fields pass through: phone, phone_confirm, ban_duration, user_metadata,
        app_metadata, role, id, password_hash, aud."""
        body: dict[str, Any] = {"email_confirm": email_confirm, **fields}
        if email is not None:
            body["email"] = email
        if password is not None:
            body["password"] = password
        result: dict[str, Any] = self._call("POST", "/users", body)
        return result

    def ban_user(self, user_id: str, ban_duration: str = "24h") -> dict[str, Any]:
        """`ban_duration` is a Go duration or "none" (unban)."""
        body = {"ban_duration": ban_duration}
        result: dict[str, Any] = self._call("POST", f"/users/{user_id}/ban", body)
        return result

    def delete_user(self, user_id: str) -> None:
        self._call("DELETE", f"/users/{user_id}")

    def sign_token(
        self,
        claims: dict[str, Any],
        *,
        alg: str | None = None,
        kid: str | None = None,
        no_kid: bool = False,
        foreign: bool = False,
    ) -> str:
        """Mint a JWT. alg: "ES256" | "HS256" | "none" (default: the mode's). ES256 tokens
        carry the current kid unless `kid` or `no_kid` is given. `foreign` signs with a key
        the double does not know."""
        body: dict[str, Any] = {"claims": claims, "alg": alg, "foreign": foreign}
        if kid is not None or no_kid:
            body["kid"] = kid
        token: str = self._call("POST", "/sign", body)["token"]
        return token

    def rotate_signing_key(self, keep_old: bool = True) -> str:
        """es256 mode: sign with a new key from now on; returns its kid."""
        kid: str = self._call("POST", "/keys/rotate", {"keep_old": keep_old})["kid"]
        return kid


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(base_url: str, alive: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the Supabase double exited during start-up")
        try:
            if httpx.get(f"{base_url}/__double/config", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the Supabase double did not answer within {timeout} s")


def _cli_args(options: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in options.items():
        if value is not None:
            args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def _start_process(
    options: dict[str, Any], log: IO[bytes], timeout: float
) -> tuple[subprocess.Popen[bytes], str]:
    for _attempt in range(3):
        port = _free_port()  # another process may take it before the child binds: retry
        command = [sys.executable, "-m", "doubles.supabase", "--host", HOST]
        command += ["--port", str(port), *_cli_args(options)]
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://{HOST}:{port}"
        try:
            _wait_ready(base_url, lambda p=process: p.poll() is None, timeout)
        except RuntimeError:
            process.kill()
            process.wait()
            log.seek(0)
            output = log.read().decode(errors="replace")
            if "address already in use" not in output.lower():
                raise RuntimeError(f"Supabase double failed to start:\n{output}") from None
            log.seek(0)
            log.truncate()
        else:
            return process, base_url
    raise RuntimeError("Supabase double: no free port after 3 attempts")


@contextmanager
def _subprocess_double(options: dict[str, Any], startup_timeout: float) -> Iterator[SupabaseDouble]:
    with tempfile.TemporaryFile() as log:
        process, base_url = _start_process(options, log, startup_timeout)
        handle = SupabaseDouble(base_url)
        try:
            yield handle
        finally:
            handle.close()
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def _in_process_double(options: dict[str, Any], startup_timeout: float) -> Iterator[SupabaseDouble]:
    sock = socket.socket()
    sock.bind((HOST, 0))
    base_url = f"http://{HOST}:{sock.getsockname()[1]}"
    issuer = options.pop("issuer")
    config = DoubleConfig(
        base_url=base_url,
        issuer="" if issuer == "omit" else issuer,
        **{k: v for k, v in options.items() if v is not None},
    )
    server = uvicorn.Server(uvicorn_config(create_app(config), HOST, 0, "warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_ready(base_url, thread.is_alive, startup_timeout)
        handle = SupabaseDouble(base_url)
        try:
            yield handle
        finally:
            handle.close()
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@contextmanager
def run_double(
    *,
    mode: Mode = "es256",
    jwt_secret: str = DEFAULT_JWT_SECRET,
    service_key: str | None = None,
    anon_key: str | None = None,
    publishable_key: str = DEFAULT_PUBLISHABLE_KEY,
    secret_key: str = DEFAULT_SECRET_KEY,
    issuer: str | None = None,
    jwt_exp: int = 3600,
    mailer_otp_exp: int = DEFAULT_MAILER_OTP_EXP,
    in_process: bool = False,
    startup_timeout: float = 15.0,
) -> Iterator[SupabaseDouble]:
    """Run a double on a free loopback port for the duration of the `with` block.

    By default it is a separate process (`python -m doubles.supabase`), so the code under
    test talks to it over real TCP exactly as to Supabase. `in_process=True` serves it from a
    thread of this process instead (useful under a debugger). `issuer`: None = `<base>/auth/v1`,
    "omit" = no `iss` claim, anything else = that value."""
    options: dict[str, Any] = {
        "mode": mode,
        "jwt_secret": jwt_secret,
        "service_key": service_key,
        "anon_key": anon_key,
        "publishable_key": publishable_key,
        "secret_key": secret_key,
        "issuer": issuer,
        "jwt_exp": jwt_exp,
        "mailer_otp_exp": mailer_otp_exp,
    }
    runner = _in_process_double if in_process else _subprocess_double
    with runner(options, startup_timeout) as handle:
        yield handle
