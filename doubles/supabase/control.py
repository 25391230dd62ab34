"""The control API under `/__double` (no apikey; cannot collide with Supabase's paths)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import ApiError, render_error
from .faults import Fault
from .gotrue.admin import ADMIN_USER_FIELDS, create_user
from .gotrue.params import DEFAULT_AUD, read_params
from .gotrue.validation import parse_go_duration
from .ratelimit import RateLimit, TokenBucketLimiter
from .state import DoubleState
from .store import utcnow


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultIn(_Strict):
    kind: Literal["delay", "status", "drop", "html", "none"]
    seconds: float = Field(default=0.0, ge=0)
    status: int | None = Field(default=None, ge=100, le=599)
    paths: list[str] | None = None
    count: int | None = Field(default=None, ge=1)
    body: Any = None
    content_type: str | None = None


class RateLimitIn(_Strict):
    requests: int | None = Field(ge=1)  # None turns the limiter off
    per_seconds: float = Field(default=300.0, gt=0)
    burst: int | None = Field(default=None, ge=1)  # default: `requests`
    header: str = "X-Forwarded-For"
    # Which per-IP limiter (reference §6): all of /token, /verify, or the OTP one (PUT /user).
    limiter: Literal["token", "verify", "otp"] = "token"


class SettingsIn(_Strict):
    issuer: str | None = None
    omit_issuer: bool = False
    jwt_exp: int | None = Field(default=None, ge=1)
    refresh_token_reuse_interval: int | None = Field(default=None, ge=0)
    admin_roles: list[str] | None = None
    password_min_length: int | None = Field(default=None, ge=1)
    create_user_db_latency: float | None = Field(default=None, ge=0)
    password_check_latency: float | None = Field(default=None, ge=0, le=5)
    token_write_latency: float | None = Field(default=None, ge=0, le=5)
    gateway_cookie: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    mailer_otp_exp: int | None = Field(default=None, ge=0)
    site_url: str | None = None
    uri_allow_list: list[str] | None = None
    secure_email_change_enabled: bool | None = None
    mailer_autoconfirm: bool | None = None
    smtp_max_frequency: float | None = Field(default=None, ge=0)


class SignIn(_Strict):
    claims: dict[str, Any]
    alg: Literal["ES256", "HS256", "none"] | None = None  # default: what the double signs with
    # Omitted: the current signing kid for ES256, none for HS256. null: no kid at all.
    kid: str | None = None
    foreign: bool = False  # sign with a key the double does not know


class RotateIn(_Strict):
    keep_old: bool = True


class BanIn(_Strict):
    ban_duration: str  # a Go duration or "none", as in admin create (reference §3.1)


Endpoint = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, 400)


async def _parse(request: Request, model: type[M]) -> M:
    return model.model_validate_json(await request.body() or b"{}")


def control_routes(state: DoubleState) -> list[Route]:
    def guarded(endpoint: Endpoint) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except ValueError as exc:  # includes pydantic's ValidationError
                return _bad_request(str(exc))

        return run

    def limiters() -> dict[str, TokenBucketLimiter]:
        return {"token": state.limiter, "verify": state.verify_limiter, "otp": state.otp_limiter}

    async def set_fault(request: Request) -> Response:
        spec = await _parse(request, FaultIn)
        if spec.kind == "none":
            state.faults.fault = None
        else:
            state.faults.fault = Fault(
                kind=spec.kind,
                seconds=spec.seconds,
                status=spec.status,
                paths=spec.paths,
                remaining=spec.count,
                body=spec.body,
                content_type=spec.content_type,
            )
        return JSONResponse({"ok": True})

    async def reset(request: Request) -> Response:
        async with state.store.lock:
            state.reset()
        return JSONResponse({"ok": True})

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats.snapshot())

    async def get_config(request: Request) -> Response:
        config, settings = state.config, state.settings
        return JSONResponse(
            {
                "base_url": config.base_url,
                "mode": config.mode,
                "jwt_secret": config.jwt_secret,
                "anon_key": config.anon_key,
                "service_key": config.service_key,
                "publishable_key": config.publishable_key,
                "secret_key": config.secret_key,
                "signing_kid": state.keys.signing_kid,
                "issuer": settings.issuer,
                "jwt_exp": settings.jwt_exp,
                "refresh_token_reuse_interval": settings.refresh_token_reuse_interval,
                "admin_roles": settings.admin_roles,
                "password_min_length": settings.password_min_length,
                "create_user_db_latency": settings.create_user_db_latency,
                "password_check_latency": settings.password_check_latency,
                "token_write_latency": settings.token_write_latency,
                "gateway_cookie": settings.gateway_cookie,
                "mailer_otp_exp": settings.mailer_otp_exp,
                "site_url": settings.site_url,
                "uri_allow_list": settings.uri_allow_list,
                "secure_email_change_enabled": settings.secure_email_change_enabled,
                "mailer_autoconfirm": settings.mailer_autoconfirm,
                "smtp_max_frequency": settings.smtp_max_frequency,
                "rate_limit": dataclasses.asdict(limit) if (limit := state.limiter.limit) else None,
                "rate_limits": {
                    name: dataclasses.asdict(limit) if (limit := limiter.limit) else None
                    for name, limiter in limiters().items()
                },
            }
        )

    async def set_config(request: Request) -> Response:
        spec = await _parse(request, SettingsIn)
        settings = state.settings
        if spec.omit_issuer:
            settings.issuer = None
        elif spec.issuer is not None:
            settings.issuer = spec.issuer
        for name in (
            "jwt_exp",
            "refresh_token_reuse_interval",
            "admin_roles",
            "password_min_length",
            "create_user_db_latency",
            "password_check_latency",
            "token_write_latency",
            "gateway_cookie",
            "mailer_otp_exp",
            "site_url",
            "uri_allow_list",
            "secure_email_change_enabled",
            "mailer_autoconfirm",
            "smtp_max_frequency",
        ):
            value = getattr(spec, name)
            if value is not None:
                setattr(settings, name, value)
        return await get_config(request)

    async def set_rate_limit(request: Request) -> Response:
        spec = await _parse(request, RateLimitIn)
        limit = None
        if spec.requests is not None:
            burst = spec.burst or spec.requests
            limit = RateLimit(spec.requests, spec.per_seconds, burst, spec.header)
        limiters()[spec.limiter].configure(limit)
        return JSONResponse({"ok": True})

    async def links(request: Request) -> Response:
        """What generate_link produced (reference part 2 §1), oldest first; `?email=` filters."""
        email = request.query_params.get("email", "").lower()
        async with state.store.lock:
            found = [link for link in state.store.links if not email or link["email"] == email]
        return JSONResponse(found)

    async def mail(request: Request) -> Response:
        """What the double would have mailed (PUT /user email changes), oldest first."""
        async with state.store.lock:
            return JSONResponse(list(state.store.mail))

    async def create_user_directly(request: Request) -> Response:
        """Same body and checks as admin create, without auth or the race window. Confirmed
        by default; pass "email_confirm": false for an unconfirmed user."""
        try:
            params = await read_params(request, "AdminUserParams", ADMIN_USER_FIELDS)
            params.setdefault("email_confirm", True)
            params.setdefault("phone_confirm", True)
            user = await create_user(state, params, DEFAULT_AUD, simulate_db_race=False)
        except ApiError as exc:
            return render_error(exc, request.headers)
        return JSONResponse(user.to_json(from_database=True))

    async def ban_user(request: Request) -> Response:
        spec = await _parse(request, BanIn)
        async with state.store.lock:
            user = state.store.users.get(request.path_params["user_id"])
            if user is None:
                return JSONResponse({"error": "no such user"}, 404)
            duration = None if spec.ban_duration == "none" else parse_go_duration(spec.ban_duration)
            user.banned_until = utcnow() + duration if duration else None
            return JSONResponse(user.to_json(from_database=True))

    async def delete_user(request: Request) -> Response:
        async with state.store.lock:
            if not state.store.delete_user(request.path_params["user_id"]):
                return JSONResponse({"error": "no such user"}, 404)
        return Response(status_code=204)

    async def sign(request: Request) -> Response:
        spec = await _parse(request, SignIn)
        alg = spec.alg or ("ES256" if state.config.mode == "es256" else "HS256")
        kid = spec.kid
        if "kid" not in spec.model_fields_set and alg == "ES256":
            kid = state.keys.signing_kid
        token = state.keys.sign_custom(spec.claims, alg, kid, spec.foreign)
        return JSONResponse({"token": token})

    async def rotate_keys(request: Request) -> Response:
        spec = await _parse(request, RotateIn)
        return JSONResponse({"kid": state.keys.rotate(spec.keep_old)})

    endpoints: list[tuple[str, Endpoint, str]] = [
        ("/__double/faults", set_fault, "POST"),
        ("/__double/reset", reset, "POST"),
        ("/__double/stats", stats, "GET"),
        ("/__double/config", get_config, "GET"),
        ("/__double/config", set_config, "POST"),
        ("/__double/rate_limit", set_rate_limit, "POST"),
        ("/__double/links", links, "GET"),
        ("/__double/mail", mail, "GET"),
        ("/__double/users", create_user_directly, "POST"),
        ("/__double/users/{user_id}/ban", ban_user, "POST"),
        ("/__double/users/{user_id}", delete_user, "DELETE"),
        ("/__double/sign", sign, "POST"),
        ("/__double/keys/rotate", rotate_keys, "POST"),
    ]
    return [Route(path, guarded(fn), methods=[method]) for path, fn, method in endpoints]
