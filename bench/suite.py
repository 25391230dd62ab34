"""The benchmark scenarios. Every figure is taken in the same run as the floor it is divided by.

Single-worker throughput runs pin the server to CPU 0 and wrk to CPU 1 (`taskset`), so that on
a 2-core machine the load generator does not take the server's core; floors, peer and service
get exactly the same placement, wrk settings and uvicorn settings.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import procs
from bench.loadgen import WrkResult, run_wrk
from bench.procs import ROOT, Server

SERVER_CPUS = "0"
WRK_CPUS = "1"
ALL_CPUS = f"0-{(os.cpu_count() or 1) - 1}"
PASSWORD = "correct horse battery staple"
UNLIMITED = "1000000/minute"
# Variables of a developer's shell that would change what the service under test is.
_SERVICE_VARIABLES = (
    "AUTH_PROVIDER",
    "DATABASE_URL",
    "REDIS_URL",
    "WEB_CONCURRENCY",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "CORS_ORIGINS",
    "TRUSTED_PROXIES",
    # Mail: a developer's SMTP server must not receive the benchmark's mail, and a required
    # email confirmation would refuse the benchmark user's login.
    "SMTP_URL",
    "SMTP_CA_FILE",
    "MAIL_DIR",
    "OUTBOX_WORKERS",
    "EMAIL_REQUEST_MIN_SECONDS",
    "EMAIL_CONFIRMATION",
)


@dataclass
class Config:
    seconds: float
    warmup: float
    connections: int
    workdir: Path
    project_python: str
    bench_python: str | None
    tokens: int
    supabase_logins: int
    repeats: int
    smoke: bool
    rounds: int = 2


@dataclass
class Run:
    """Everything measured, keyed by scenario name, plus how it was measured."""

    wrk: dict[str, WrkResult] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "wrk": {name: result.to_dict() for name, result in self.wrk.items()},
            "values": self.values,
            "skipped": self.skipped,
            "commands": self.commands,
        }


class Suite:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.run = Run()
        self._rounds: dict[str, list[WrkResult]] = {}
        self.uvicorn_options = self._capture_uvicorn_options()

    # --- helpers -------------------------------------------------------------------------

    def _clean_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in list(env):
            if name in _SERVICE_VARIABLES or name.startswith(("SUPABASE_", "THROTTLE_")):
                del env[name]
        return env

    def _capture_uvicorn_options(self, extra: dict[str, str] | None = None) -> dict[str, Any]:
        env = {**self._clean_env(), "HOST": "127.0.0.1", "PORT": "8080", **(extra or {})}
        completed = subprocess.run(
            [self.config.project_python, str(ROOT / "bench" / "capture.py")],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.config.workdir,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"capturing uvicorn settings failed: {completed.stderr}")
        marker = "BENCH_UVICORN "
        line = next(x for x in completed.stdout.splitlines() if x.startswith(marker))
        options: dict[str, Any] = json.loads(line[len(marker) :])
        return options

    def service_env(self, name: str, **extra: str) -> dict[str, str]:
        return {
            **self._clean_env(),
            "DATABASE_URL": f"sqlite:///{self.config.workdir / name}.db",
            "THROTTLE_LOGIN_PER_IP": UNLIMITED,
            # The login storm is one account from one address, 32 logins in flight: each holds
            # a per-account slot while it is verified (docs/security.md).
            "THROTTLE_LOGIN_PER_ACCOUNT": UNLIMITED,
            "THROTTLE_LOGIN_PER_ACCOUNT_CEILING": UNLIMITED,
            "THROTTLE_SIGNUP_PER_IP": UNLIMITED,
            "THROTTLE_REFRESH_PER_IP": UNLIMITED,
            # The mail phase asks for thousands of codes for one address from one IP.
            "THROTTLE_EMAIL_SEND_PER_IP": UNLIMITED,
            "THROTTLE_EMAIL_SEND_PER_ADDRESS": UNLIMITED,
            "THROTTLE_CODE_CHECK_PER_IP": UNLIMITED,
            "THROTTLE_CODE_CHECK_PER_ADDRESS": UNLIMITED,
            **extra,
        }

    def start_service(
        self, name: str, cpus: str | None = None, database: str | None = None, **extra: str
    ) -> Server:
        command = [self.config.project_python, "-m", "auth_backend"]
        self.note(f"{' '.join(extra_env(extra))} python -m auth_backend".strip())
        return procs.start(
            name,
            command,
            env=self.service_env(database or name, **extra),
            workdir=self.config.workdir,
            cpus=cpus,
        )

    def start_app(
        self,
        name: str,
        app: str,
        *,
        python: str,
        cpus: str | None = None,
        health_path: str = "/health",
        **extra: str,
    ) -> Server:
        env = {
            **self._clean_env(),
            "BENCH_UVICORN": json.dumps(self.uvicorn_options),
            **extra,
        }
        return procs.start(
            name,
            [python, str(ROOT / "bench" / "serve.py"), app],
            env=env,
            workdir=self.config.workdir,
            cpus=cpus,
            health_path=health_path,
        )

    def note(self, command: str) -> None:
        if command not in self.run.commands:
            self.run.commands.append(command)

    def wrk(self, name: str, url: str, **options: Any) -> WrkResult:
        options.setdefault("connections", self.config.connections)
        if self.config.warmup > 0:
            run_wrk(url, seconds=self.config.warmup, **options)
        result = run_wrk(url, seconds=self.config.seconds, **options)
        self.run.wrk[name] = result
        self.note(result.command)
        return result

    def wrk_once(self, name: str, url: str, **options: Any) -> WrkResult:
        """One measured run; repeated calls under one name are merged as rounds."""
        result = run_wrk(url, seconds=self.config.seconds, **self._wrk_defaults(options))
        self._rounds.setdefault(name, []).append(result)
        self.run.wrk[name] = merge(self._rounds[name])
        self.note(result.command)
        return result

    def compare(
        self,
        contenders: list[tuple[str, str, dict[str, Any]]],
        servers: dict[str, Server] | None = None,
    ) -> dict[str, float]:
        """Run each contender `rounds` times, alternating the order (A B C, C B A, ...) so that
        a machine getting busier or quieter during the comparison favours none of them.

        Returns, for the contenders named in `servers`, the cores their server used during
        their own measured runs (CPU seconds over those runs' wall time)."""
        runs: dict[str, list[WrkResult]] = {name: [] for name, _, _ in contenders}
        cpu: dict[str, float] = {}
        if self.config.warmup > 0:
            for _name, url, options in contenders:
                run_wrk(url, seconds=self.config.warmup, **self._wrk_defaults(options))
        for round_ in range(self.config.rounds):
            order = contenders if round_ % 2 == 0 else list(reversed(contenders))
            for name, url, options in order:
                server = (servers or {}).get(name)
                before = server.cpu_seconds() if server else 0.0
                result = run_wrk(url, seconds=self.config.seconds, **self._wrk_defaults(options))
                if server:
                    cpu[name] = cpu.get(name, 0.0) + server.cpu_seconds() - before
                runs[name].append(result)
                self.note(result.command)
        for name, results in runs.items():
            self.run.wrk[name] = merge(results)
        return {name: used / (self.run.wrk[name].duration_us / 1e6) for name, used in cpu.items()}

    def _wrk_defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"connections": self.config.connections, **options}

    def skip(self, name: str, reason: str) -> None:
        self.run.skipped[name] = reason

    # --- scenarios -------------------------------------------------------------------------

    def health(self, service: Server) -> None:
        """Target 2: the service's /health with all its middleware vs bare FastAPI."""
        # These floors need only the server stack, which the project's environment has too.
        python = self.config.bench_python or self.config.project_python
        with (
            stopping(
                self.start_app(
                    "health.floor_starlette",
                    "bench.apps.floor_health:create_app",
                    python=python,
                    cpus=SERVER_CPUS,
                )
            ) as starlette,
            stopping(
                self.start_app(
                    "health.floor_fastapi",
                    "bench.apps.floor_fastapi_health:create_app",
                    python=python,
                    cpus=SERVER_CPUS,
                )
            ) as fastapi,
        ):
            self.run.values["startup_floor_fastapi_s"] = round(fastapi.startup_seconds, 3)
            service.pin(SERVER_CPUS)
            pinned = {"cpus": WRK_CPUS}
            self.compare(
                [
                    ("health.floor_starlette", f"{starlette.base_url}/health", pinned),
                    ("health.floor_fastapi", f"{fastapi.base_url}/health", pinned),
                    ("health.service", f"{service.base_url}/health", pinned),
                ]
            )

    def me(self, service: Server, user: BenchUser) -> None:
        """Target 1: /me vs the bare Starlette + PyJWT floor and vs fastapi-users."""
        one = self.config.workdir / "token.txt"
        one.write_text(user.token + "\n")
        many = self.config.workdir / "tokens.txt"
        many.write_text("\n".join(user.many_tokens) + "\n")
        self.run.values["me.distinct_tokens"] = len(user.many_tokens)
        service.pin(SERVER_CPUS)
        single = {"cpus": WRK_CPUS, "tokens_file": one}
        distinct = {"cpus": WRK_CPUS, "tokens_file": many}
        contenders = [
            ("me.service", f"{service.base_url}/me", single),
            ("me.service_many", f"{service.base_url}/me", distinct),
        ]
        if self.config.bench_python is None:
            self.skip("me.floor", "bench/.venv (PyJWT) is not installed")
            self.skip("me.peer", "bench/.venv (fastapi-users) is not installed")
            self.compare(contenders)
            return
        jwks = httpx.get(f"{service.base_url}/.well-known/jwks.json").text
        floor_server = self.start_app(
            "me.floor",
            "bench.apps.floor_me:create_app",
            python=self.config.bench_python,
            cpus=SERVER_CPUS,
            health_path="/me",
            BENCH_JWKS=jwks,
            BENCH_ISSUER="auth-backend",
        )
        with stopping(floor_server) as floor, stopping(self.start_peer()) as peer:
            peer_token = self.config.workdir / "peer_token.txt"
            peer_token.write_text(peer.extra["token"] + "\n")
            self.compare(
                [
                    ("me.floor", f"{floor.base_url}/me", single),
                    contenders[0],
                    ("me.peer", f"{peer.base_url}/users/me", {**single, "tokens_file": peer_token}),
                    ("me.floor_many", f"{floor.base_url}/me", distinct),
                    contenders[1],
                ]
            )

    def start_peer(self, cpus: str | None = SERVER_CPUS) -> Server:
        assert self.config.bench_python is not None
        database = self.config.workdir / f"peer-{time.monotonic_ns()}.db"
        peer = self.start_app(
            "peer",
            "bench.apps.peer_fastapi_users:create_app",
            python=self.config.bench_python,
            cpus=cpus,
            health_path="/users/me",
            BENCH_PEER_DB=str(database),
        )
        email = "peer@example.com"
        with httpx.Client(base_url=peer.base_url, timeout=30) as client:
            client.post("/auth/register", json={"email": email, "password": PASSWORD})
            response = client.post(
                "/auth/jwt/login", data={"username": email, "password": PASSWORD}
            )
            response.raise_for_status()
            peer.extra["token"] = response.json()["access_token"]
            peer.extra["email"] = email
        return peer

    def login(self, service: Server, user: BenchUser) -> None:
        """Target 3: login throughput vs the hashing ceiling, /health p99 during the storm."""
        before = self.hashing_ceiling()
        body = json.dumps({"email": user.email, "password": PASSWORD})
        service.pin(ALL_CPUS)
        cpu_before, started = service.cpu_seconds(), time.monotonic()
        with HealthProbe(service.base_url) as probe:
            # Not pinned: hashing uses every core, as it would in production.
            storm = self.wrk(
                "login.service",
                f"{service.base_url}/login",
                method="POST",
                body=body,
                headers=["Content-Type: application/json"],
            )
        cores_used = (service.cpu_seconds() - cpu_before) / (time.monotonic() - started)
        after = self.hashing_ceiling()
        # The ceiling is measured just before and just after the storm; the mean of the two.
        ceiling = {
            key: round((before[key] + after[key]) / 2, 2)
            for key in ("verify_cpu_ms", "ceiling_per_s", "achieved_threads_per_s")
        }
        ceiling |= {"cores": before["cores"], "parameters": before["parameters"]}
        self.run.values["login.ceiling"] = ceiling
        self.run.values["login.cpu"] = {
            "cores_used": round(cores_used, 2),
            "cpu_ms_per_login": round(cores_used / storm.ok_rps * 1000, 1)
            if storm.ok_rps
            else None,
        }
        self.run.values["login.health_probe"] = probe.summary()
        if self.config.bench_python is None:
            self.skip("login.peer", "bench/.venv (fastapi-users) is not installed")
            return
        with stopping(self.start_peer(cpus=None)) as peer:
            form = f"username={peer.extra['email']}&password={PASSWORD.replace(' ', '+')}"
            self.wrk(
                "login.peer",
                f"{peer.base_url}/auth/jwt/login",
                method="POST",
                body=form,
                headers=["Content-Type: application/x-www-form-urlencoded"],
            )

    def hashing_ceiling(self, memory_mib: int | None = None) -> dict[str, Any]:
        seconds = 1.0 if self.config.smoke else 4.0
        arguments = ["--seconds", f"{seconds:g}"]
        if memory_mib is not None:
            arguments += ["--memory-mib", str(memory_mib)]
        command = [self.config.project_python, "-m", "bench.hashing", *arguments]
        self.note(f"python -m bench.hashing {' '.join(arguments)}")
        completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
        result: dict[str, Any] = json.loads(completed.stdout)
        return result

    def compact_hashing(self) -> None:
        """Information for targets 3 and 5: OWASP's m=7 MiB, t=5 configuration
        (`ARGON2_MEMORY_MIB=7`), its login storm against its own ceiling, and resident memory
        after the storm. Not a target row: the default stays 19 MiB (bench/RESULTS.md)."""
        memory_mib = 7
        service = self.start_service("service-argon2-7", ARGON2_MEMORY_MIB=str(memory_mib))
        with stopping(service):
            user = prepare_user(service.base_url, many=0)
            before = self.hashing_ceiling(memory_mib)
            self.wrk(
                "login.argon2_7",
                f"{service.base_url}/login",
                method="POST",
                body=json.dumps({"email": user.email, "password": PASSWORD}),
                headers=["Content-Type: application/json"],
            )
            after = self.hashing_ceiling(memory_mib)
            self.run.values["argon2_7"] = {
                "ceiling_per_s": round((before["ceiling_per_s"] + after["ceiling_per_s"]) / 2, 2),
                "verify_cpu_ms": round((before["verify_cpu_ms"] + after["verify_cpu_ms"]) / 2, 2),
                "rss_mb": mb(service.rss_bytes()),
            }

    def memory_pass(self, service: Server, user: BenchUser, label: str) -> None:
        """Target 5: the same service workload again, RSS after it (growth across passes)."""
        one = self.config.workdir / "token.txt"
        many = self.config.workdir / "tokens.txt"
        body = json.dumps({"email": user.email, "password": PASSWORD})
        for url, options in (
            (f"{service.base_url}/health", {}),
            (f"{service.base_url}/me", {"tokens_file": one}),
            (f"{service.base_url}/me", {"tokens_file": many}),
            (
                f"{service.base_url}/login",
                {"method": "POST", "body": body, "headers": ["Content-Type: application/json"]},
            ),
        ):
            run_wrk(
                url, seconds=self.config.seconds, connections=self.config.connections, **options
            )
        self.run.values.setdefault("memory.rss_mb", {})[label] = mb(service.rss_bytes())

    def supabase(self) -> None:
        """Target 4: login through the service vs straight to the double (and vs a bare
        Starlette + aiohttp proxy, the cost of any Python hop here); pooled connections."""
        from doubles.supabase import run_double  # noqa: PLC0415 (a development package)

        with run_double(mode="es256") as double:
            email = "bench@example.com"
            double.create_user_directly(email, PASSWORD)
            service = self.start_service(
                "service-supabase",
                SUPABASE_URL=double.base_url,
                SUPABASE_SERVICE_KEY=double.service_key,
                SUPABASE_ANON_KEY=double.anon_key,
            )
            with stopping(service):
                self._supabase_latency(double, service, email)
                before = double.stats()["connections"]
                statuses = asyncio.run(
                    many_logins(service.base_url, email, self.config.supabase_logins, 32)
                )
                after = double.stats()["connections"]
                self.run.values["supabase.logins"] = {
                    "logins": self.config.supabase_logins,
                    "client_concurrency": 32,
                    "ok": statuses.get(200, 0),
                    "statuses": {str(k): v for k, v in statuses.items()},
                    "new_connections": after - before,
                }
                self.run.values["supabase.rss_mb"] = mb(service.rss_bytes())

    def _supabase_latency(self, double: Any, service: Server, email: str) -> None:
        body = json.dumps({"email": email, "password": PASSWORD})
        json_header = "Content-Type: application/json"
        double_pid = procs.pid_listening_on(int(double.base_url.rsplit(":", 1)[1]))
        # (name, url, headers, the process whose CPU time is charged to each login)
        contenders: list[tuple[str, str, list[str], int | None]] = [
            (
                "supabase.direct",
                f"{double.auth_url}/token?grant_type=password",
                [json_header, f"apikey: {double.anon_key}"],
                double_pid,
            ),
            ("supabase.service", f"{service.base_url}/login", [json_header], service.process.pid),
        ]
        proxy: Server | None = None
        if self.config.bench_python is None:
            self.skip("supabase.proxy_floor", "bench/.venv is not installed")
        else:
            proxy = self.start_app(
                "supabase.proxy_floor",
                "bench.apps.floor_proxy:create_app",
                python=self.config.bench_python,
                BENCH_SUPABASE_URL=double.base_url,
                BENCH_SUPABASE_ANON_KEY=double.anon_key,
            )
            contenders.append(
                (
                    "supabase.proxy_floor",
                    f"{proxy.base_url}/login",
                    [json_header],
                    proxy.process.pid,
                )
            )
        options: dict[str, Any] = {"method": "POST", "body": body, "connections": 1}
        cpu_seconds: dict[str, float] = {}
        try:
            if self.config.warmup > 0:
                for _name, url, headers, _pid in contenders:
                    run_wrk(url, seconds=self.config.warmup, headers=headers, **options)
            for round_ in range(self.config.rounds):
                order = contenders if round_ % 2 == 0 else list(reversed(contenders))
                for name, url, headers, pid in order:
                    before = procs.cpu_seconds_of(pid) if pid else 0.0
                    self.wrk_once(name, url, headers=headers, **options)
                    if pid:
                        used = procs.cpu_seconds_of(pid) - before
                        cpu_seconds[name] = cpu_seconds.get(name, 0.0) + used
        finally:
            if proxy is not None:
                proxy.stop()
        self.run.values["supabase.cpu_ms_per_login"] = {
            name: round(seconds / self.run.wrk[name].requests * 1000, 3)
            for name, seconds in cpu_seconds.items()
            if self.run.wrk[name].requests
        }

    def scaling(self, user: BenchUser) -> None:
        """Target 6: WEB_CONCURRENCY=2 vs one worker, both unpinned (wrk shares the cores)."""
        two = self._capture_uvicorn_options({"WEB_CONCURRENCY": "2"})
        if two.get("workers", 1) != 2:
            self.skip(
                "scaling",
                "`python -m auth_backend` does not run WEB_CONCURRENCY workers on this branch",
            )
            return
        with (
            stopping(self.start_service("service-1w", WEB_CONCURRENCY="1")) as one,
            stopping(self.start_service("service-2w", WEB_CONCURRENCY="2")) as two_workers,
        ):
            contenders: list[tuple[str, str, dict[str, Any]]] = []
            for name, server in (("scaling.1w", one), ("scaling.2w", two_workers)):
                # Each service has its own database and so its own signing key and token.
                token_file = self.config.workdir / f"{name}.txt"
                token_file.write_text(prepare_user(server.base_url, many=0).token + "\n")
                contenders.append((name, f"{server.base_url}/me", {"tokens_file": token_file}))
            cores = self.compare(contenders, {"scaling.1w": one, "scaling.2w": two_workers})
            self.run.values["scaling.cores"] = {
                name: {
                    "server": round(used, 2),
                    "wrk": round(
                        self.run.wrk[name].client_cpu_s / (self.run.wrk[name].duration_us / 1e6), 2
                    ),
                }
                for name, used in cores.items()
            }


def merge(results: list[WrkResult]) -> WrkResult:
    """Rounds of one contender as one result: totals for counts, medians for latencies."""
    if len(results) == 1:
        return results[0]
    return WrkResult(
        command=results[0].command,
        requests=sum(r.requests for r in results),
        duration_us=sum(r.duration_us for r in results),
        errors=sum(r.errors for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p90_ms=statistics.median(r.p90_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        max_ms=max(r.max_ms for r in results),
        client_cpu_s=round(sum(r.client_cpu_s for r in results), 2),
    )


@dataclass
class BenchUser:
    email: str
    token: str
    many_tokens: list[str]


def prepare_user(base_url: str, many: int) -> BenchUser:
    """Sign up, log in, and collect `many` distinct access tokens through /refresh."""
    email = f"bench-{time.monotonic_ns()}@example.com"
    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = client.post("/signup", json={"email": email, "password": PASSWORD})
        response.raise_for_status()
        grant = client.post("/login", json={"email": email, "password": PASSWORD})
        grant.raise_for_status()
        token = grant.json()["access_token"]
        refresh = grant.json()["refresh_token"]
        tokens: list[str] = []
        for _ in range(many):
            rotated = client.post("/refresh", json={"refresh_token": refresh})
            rotated.raise_for_status()
            tokens.append(rotated.json()["access_token"])
            refresh = rotated.json()["refresh_token"]
        me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        me.raise_for_status()
    return BenchUser(email=email, token=token, many_tokens=tokens or [token])


async def many_logins(base_url: str, email: str, count: int, concurrency: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:

        async def one() -> None:
            async with semaphore:
                response = await client.post("/login", json={"email": email, "password": PASSWORD})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(one() for _ in range(count)))
    return statuses


class HealthProbe:
    """GET /health every 10 ms on one keep-alive connection, in a thread; latencies in ms.

    The probe's own delays count against the service, so its p99 is an upper bound."""

    INTERVAL = 0.01

    def __init__(self, base_url: str) -> None:
        host, _, port = base_url.removeprefix("http://").partition(":")
        self._host, self._port = host, int(port)
        self.latencies: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=10)
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                connection.request("GET", "/health")
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    self.errors += 1
                self.latencies.append((time.perf_counter() - started) * 1000)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                connection.close()
                connection = http.client.HTTPConnection(self._host, self._port, timeout=10)
            self._stop.wait(max(self.INTERVAL - (time.perf_counter() - started), 0))
        connection.close()

    def summary(self) -> dict[str, float]:
        if not self.latencies:
            return {"requests": 0, "errors": self.errors}
        ordered = sorted(self.latencies)
        return {
            "requests": len(ordered),
            "errors": self.errors,
            "p50_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(int(len(ordered) * 0.99), len(ordered) - 1)], 2),
            "max_ms": round(ordered[-1], 2),
        }


@contextmanager
def stopping(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


def extra_env(extra: dict[str, str]) -> list[str]:
    hidden = ("KEY", "SECRET")
    return [f"{k}={'…' if any(h in k for h in hidden) else v}" for k, v in extra.items()]


def mb(value: int) -> float:
    return round(value / 1024 / 1024, 1)


def python_of(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    return str(python) if python.exists() else None


def current_python() -> str:
    return sys.executable


__all__ = ["BenchUser", "Callable", "Config", "Suite", "prepare_user"]
