"""Configuration from the environment (and an optional `.env`), validated once at start-up.

A bad value stops the service with one line that names the variable; secret values are never
repeated in that line.
"""

from __future__ import annotations

import base64
import json
from functools import cached_property
from ipaddress import ip_network
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import limits
from pydantic import (
    Field,
    HttpUrl,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from auth_backend.security.passwords import (
    DEFAULT_ARGON2_MEMORY_MIB,
    OWASP_ARGON2_PASSES_BY_MEMORY_MIB,
)
from auth_backend.security.throttling import (
    DEFAULT_PROBE_INTERVAL,
    DEFAULT_REDIS_TIMEOUT,
    Rule,
)

ProviderName = Literal["local", "supabase"]
# Loopback, RFC 1918 and IPv6 unique-local addresses: where an orchestrator's scraper and its
# operators' tunnels come from, and where no public client does.
PRIVATE_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)
EmailConfirmation = Literal["off", "required"]
LogLevel = Literal["critical", "error", "warning", "info", "debug"]
LogFormat = Literal["console", "json"]

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def to_async_database_url(url: str) -> str:
    """Accept plain and SQLAlchemy driver URLs alike and return the async driver's URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "not a database URL (expected sqlite:///path or postgresql://...)"
        ) from None
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(f"unsupported database '{parsed.drivername}' (use sqlite or postgresql)")
    parsed = parsed.set(drivername=driver)
    if driver == "postgresql+asyncpg" and "sslmode" in parsed.query:
        # libpq spells it sslmode, asyncpg spells it ssl; accept the URL people copy from psql.
        query = dict(parsed.query)
        query["ssl"] = query.pop("sslmode")
        parsed = parsed.set(query=query)
    return parsed.render_as_string(hide_password=False)


def _rate_limit_fields() -> dict[str, Any]:
    return {
        rule.value.setting: (
            str,
            Field(default=rule.value.default, description=rule.value.description),
        )
        for rule in Rule
    }


# One setting per rate limit, declared by the rate-limit table itself (security/throttling.py),
# so adding a limit is one entry there. mypy sees a plain BaseSettings: rates are read through
# Settings.rate_limit(rule), never as attributes.
if TYPE_CHECKING:
    _WithRateLimits = BaseSettings
else:
    _WithRateLimits = create_model("_WithRateLimits", __base__=BaseSettings, **_rate_limit_fields())


class Settings(_WithRateLimits):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    auth_provider: ProviderName | None = Field(
        default=None,
        description="Identity provider: local or supabase. Default: supabase when "
        "SUPABASE_URL is set, else local.",
    )
    database_url: str = Field(
        default="sqlite:///./data/auth.db",
        description="The service's store (the local provider's accounts; one-time codes and "
        "the mail outbox on every provider): sqlite:///path or postgresql://user@host/db "
        "(SQLAlchemy driver URLs work too).",
    )
    database_connect_timeout: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="Local provider on PostgreSQL: seconds to open a connection (or wait for "
        "a free one in the pool) before answering 503.",
    )
    database_statement_timeout: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Local provider on PostgreSQL: seconds any one statement may take; an "
        "operation gets this plus DATABASE_CONNECT_TIMEOUT in all before answering 503.",
    )
    email_confirmation: EmailConfirmation = Field(
        default="off",
        description="off: accounts are usable at signup. required: signup mails a "
        "verification code and login answers 403 email_not_confirmed until it is used.",
    )
    email_link_base: HttpUrl = Field(
        default=HttpUrl("http://localhost:3000"),
        description="The client application's address that mailed links point to: "
        "<base>/reset-password#token=... and <base>/verify-email#token=... (the token in the "
        "fragment never reaches a server log). Our API consumes nothing on GET.",
    )
    app_name: str = Field(
        default="auth-backend",
        min_length=1,
        max_length=100,
        description="The application's name in mail subjects and bodies.",
    )
    recovery_code_ttl: int = Field(
        default=600,
        ge=60,
        le=86400,
        description="Seconds a mailed recovery code (and its link) stays usable.",
    )
    verification_code_ttl: int = Field(
        default=86400,
        ge=300,
        le=7 * 86400,
        description="Seconds a mailed email-verification code (and its link) stays usable.",
    )
    code_max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Wrong guesses after which a mailed code is dead, even if the next is right.",
    )
    email_request_min_seconds: float = Field(
        default=0.25,
        ge=0,
        le=5,
        description="Seconds every recovery and resend request takes at least (more when "
        "recent ones took longer), so that known and unknown addresses answer in the same "
        "time.",
    )
    mail_from: str = Field(
        default="auth-backend <no-reply@localhost>",
        min_length=3,
        description="The From address of every mail.",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="Where mail is sent: smtp://user:pass@host:587?starttls=required, or "
        "smtps://user:pass@host:465. Unset: mail is written as .eml files to MAIL_DIR.",
    )
    smtp_ca_file: str | None = Field(
        default=None,
        description="A PEM file of the certificate authorities that SMTP_URL's server "
        "certificate is checked against, instead of the system's (a private CA).",
    )
    smtp_timeout: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="Seconds for the SMTP connection and for each SMTP command.",
    )
    mail_dir: str = Field(
        default="./data/mail",
        min_length=1,
        description="With no SMTP_URL: the folder that receives each mail as an .eml file.",
    )
    mail_templates_dir: str | None = Field(
        default=None,
        description="A folder of templates overriding the packaged ones by file name "
        "(recovery.txt, recovery.html, verification.txt, verification.html, and their "
        ".subject.txt).",
    )
    outbox_poll_interval: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between a worker's looks at the outbox when it found nothing due.",
    )
    outbox_max_attempts: int = Field(
        default=8,
        ge=1,
        le=50,
        description="Sending attempts per mail before it is given up (and recorded as failed).",
    )
    outbox_retry_base: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="Seconds before the first retry of a mail; each further retry waits twice "
        "as long, up to OUTBOX_RETRY_MAX.",
    )
    outbox_retry_max: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="The longest wait between two attempts at one mail, in seconds.",
    )
    outbox_max_rate: float = Field(
        default=50.0,
        ge=0,
        le=10000,
        description="Most mails a worker sends per second (0: no limit): a backlog drains at "
        "this pace, leaving the CPU to requests and staying within the SMTP provider's rate.",
    )
    outbox_workers: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Outbox workers in each replica (0: this replica sends no mail).",
    )
    host: str = Field(
        default="127.0.0.1", description="Address to listen on (the container sets 0.0.0.0)."
    )
    port: int = Field(default=8080, ge=1, le=65535, description="Port to listen on.")
    web_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes serving requests; metrics are aggregated across them.",
    )
    shutdown_timeout: int = Field(
        default=20,
        ge=1,
        le=600,
        description="Seconds in-flight requests get to finish after SIGTERM; keep it below the "
        "orchestrator's stop timeout (compose: stop_grace_period).",
    )
    max_request_header_bytes: int = Field(
        default=16384,
        ge=1024,
        le=1048576,
        description="Most bytes the request line and headers may take together; a larger "
        "head is answered 431 and the connection closed.",
    )
    max_request_headers: int = Field(
        default=100,
        ge=10,
        le=1000,
        description="Most header fields a request may carry; more are answered 431 and the "
        "connection closed.",
    )
    request_headers_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds a connection gets to send a request's line and headers (from "
        "opening, or from the request's first byte when kept alive): then 408 and close.",
    )
    request_body_timeout: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Seconds a request gets to send its whole body once its headers arrived: "
        "then 408 (or a close, once the answer started).",
    )
    readiness_timeout: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Seconds GET /ready waits for the identity provider before answering 503.",
    )
    log_level: LogLevel = Field(default="info", description="Lowest level that is logged.")
    log_format: LogFormat = Field(
        default="console",
        description="console (readable lines) or json (one object per line; the container "
        "default).",
    )
    access_token_ttl: int = Field(
        default=3600, ge=60, le=604800, description="Access token lifetime in seconds (local)."
    )
    login_failure_min_seconds: float = Field(
        default=0.25,
        ge=0,
        le=2,
        description="Seconds every failed login takes at least (more when recent failures took "
        "longer), so that a wrong password, an unknown address and a banned account cannot be "
        "told apart by timing. Keep it above the slowest password check (Supabase's bcrypt "
        "plus the round trip).",
    )
    session_max_lifetime: int = Field(
        default=30 * 24 * 3600,
        ge=300,
        le=366 * 24 * 3600,
        description="Seconds a session may live, refreshes or not, before its user must log in "
        "again (local; on Supabase, its own time-box setting).",
    )
    session_inactivity_timeout: int = Field(
        default=7 * 24 * 3600,
        ge=300,
        le=366 * 24 * 3600,
        description="Seconds a session may go without a refresh before it ends (local; on "
        "Supabase, its own inactivity-timeout setting).",
    )
    refresh_token_reuse_interval: int = Field(
        default=10,
        ge=0,
        le=60,
        description="Seconds after a refresh token's first use during which presenting it "
        "again (a client's retry) gets another token of the same session instead of ending "
        "the session as reuse (local; Supabase has its own, also 10 s by default).",
    )
    argon2_memory_mib: int = Field(
        default=DEFAULT_ARGON2_MEMORY_MIB,
        description="Argon2id memory per password hash in MiB (local), one of OWASP's "
        "equally strong configurations: 46, 19, 12, 9 or 7 (with 1, 2, 3, 4 or 5 passes). "
        "Stored hashes are upgraded at their next login.",
    )
    jwt_issuer: str = Field(
        default="auth-backend",
        min_length=1,
        description="The iss claim of the tokens the local provider issues.",
    )
    supabase_url: HttpUrl | None = Field(
        default=None, description="Supabase project URL, e.g. https://<ref>.supabase.co."
    )
    supabase_service_key: SecretStr | None = Field(
        default=None, description="Supabase service_role (secret) key, for the Admin API."
    )
    supabase_anon_key: SecretStr | None = Field(
        default=None,
        description="Supabase anon (publishable) key for user calls; defaults to the service key.",
    )
    supabase_jwt_secret: SecretStr | None = Field(
        default=None,
        description="Supabase legacy HS256 JWT secret; only for projects that still sign with it.",
    )
    signup_auto_confirm: bool = Field(
        default=True,
        description="Supabase: mark new users' email as confirmed at signup.",
    )
    supabase_jwt_issuer: str | None = Field(
        default=None,
        description="Supabase: the iss its tokens carry, when it differs from "
        "SUPABASE_URL/auth/v1 (e.g. a local stack reached through another host name).",
    )
    supabase_client_ip_header: str = Field(
        default="X-Forwarded-For",
        pattern=r"^[A-Za-z0-9-]*$",
        description="Supabase: header that carries the end user's IP to Supabase, so its per-IP "
        "rate limits see users, not this service. Empty to send none.",
    )
    redis_url: str | None = Field(
        default=None,
        pattern=r"^rediss?://",
        description="Redis for rate limits shared by every replica (redis://host:6379/0); "
        "unset keeps them in each process's memory.",
    )
    redis_timeout: float = Field(
        default=DEFAULT_REDIS_TIMEOUT,
        gt=0,
        le=10,
        description="Seconds a rate-limit call waits for Redis (to connect, and to answer) "
        "before the replica falls back to in-memory limits.",
    )
    redis_probe_interval: float = Field(
        default=DEFAULT_PROBE_INTERVAL,
        gt=0,
        le=300,
        description="While Redis is unavailable, seconds between the background checks that "
        "switch rate limits back to it once it answers.",
    )
    throttle_ipv6_prefix: int = Field(
        default=64,
        ge=32,
        le=128,
        description="IPv6 clients share per-IP rate limits per network of this prefix length "
        "(one subscriber usually holds a /64); IPv4 clients are limited per address.",
    )
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated proxy addresses or CIDRs whose X-Forwarded-For is "
        "believed; empty trusts none and uses the TCP peer's address.",
    )
    operations_allowed_networks: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=lambda: [ip_network(network) for network in PRIVATE_NETWORKS],
        min_length=1,
        description="Comma-separated CIDRs of the clients that may read /metrics and the "
        "documentation (/docs, /redoc, /openapi.json); others get 403. The client is the TCP "
        "peer, or the X-Forwarded-For address TRUSTED_PROXIES vouch for. Default: loopback "
        "and private ranges; 0.0.0.0/0,::/0 allows everyone.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed by CORS (https://app.example.com); "
        "empty disables CORS.",
    )
    supabase_timeout: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="Supabase: seconds to wait for an answer (connecting gets at most 3).",
    )

    @field_validator(
        "trusted_proxies", "operations_allowed_networks", "cors_origins", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(*(rule.value.setting for rule in Rule))
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError:
            raise ValueError("expected a rate like 10/minute or 100/hour") from None
        return value

    @field_validator("argon2_memory_mib")
    @classmethod
    def _owasp_argon2_configuration(cls, value: int) -> int:
        if value not in OWASP_ARGON2_PASSES_BY_MEMORY_MIB:
            allowed = ", ".join(map(str, OWASP_ARGON2_PASSES_BY_MEMORY_MIB))
            raise ValueError(f"must be one of {allowed} (OWASP's Argon2id configurations)")
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, value: str) -> str:
        return to_async_database_url(value)

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            # Imported here: the mail package (aiosmtplib, jinja2) is needed only when mail
            # goes to a server, and it reads these settings itself. The parser is the one the
            # transport uses, so what passes here connects the way it reads.
            from auth_backend.mail.smtp_url import parse_smtp_url  # noqa: PLC0415

            parse_smtp_url(value.get_secret_value())
        return value

    @field_validator("supabase_url")
    @classmethod
    def _project_url_only(cls, value: HttpUrl | None) -> HttpUrl | None:
        if value is not None and (value.path or "/").rstrip("/").endswith("/auth/v1"):
            raise ValueError(
                "give the project URL without /auth/v1, e.g. https://<ref>.supabase.co"
            )
        return value

    @model_validator(mode="after")
    def _provider_is_configured(self) -> Settings:
        if self.provider == "supabase":
            if self.supabase_url is None:
                raise ValueError("SUPABASE_URL is required when AUTH_PROVIDER=supabase")
            if self.supabase_service_key is None:
                raise ValueError("SUPABASE_SERVICE_KEY is required with the supabase provider")
            problem = service_key_problem(self.supabase_service_key.get_secret_value())
            if problem:
                raise ValueError(f"SUPABASE_SERVICE_KEY {problem}")
        return self

    @property
    def supabase_base_url(self) -> str:
        """The project URL without a trailing slash."""
        return str(self.supabase_url).rstrip("/")

    @property
    def supabase_issuer(self) -> str:
        return self.supabase_jwt_issuer or f"{self.supabase_base_url}/auth/v1"

    def rate_limit(self, rule: Rule) -> str:
        """The configured rate of `rule`, in the limits syntax (10/minute)."""
        rate: str = getattr(self, rule.value.setting)
        return rate

    @property
    def provider(self) -> ProviderName:
        if self.auth_provider is not None:
            return self.auth_provider
        return "supabase" if self.supabase_url is not None else "local"

    @cached_property
    def database_url_for_logs(self) -> str:
        return make_url(self.database_url).render_as_string(hide_password=True)

    @cached_property
    def mail_destination_for_logs(self) -> str:
        """Where mail goes, with no credentials: the SMTP server, or the .eml folder."""
        if self.smtp_url is None:
            return f"files in {Path(self.mail_dir).resolve()}"
        parsed = urlsplit(self.smtp_url.get_secret_value())
        return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or ''}".rstrip(":")


# Values that may hold credentials (a database URL can carry a password).
_NEVER_ECHOED = frozenset(
    {
        "database_url",
        "redis_url",
        "smtp_url",
        "supabase_service_key",
        "supabase_anon_key",
        "supabase_jwt_secret",
    }
)


def service_key_problem(key: str) -> str | None:
    """Why a configured service key cannot be an admin key, if that is visible offline."""
    if key.startswith("sb_publishable_"):
        return "is a publishable key; use the secret (sb_secret_...) or service_role key"
    if key.count(".") == 2 and key.startswith("eyJ"):
        # A legacy key is a JWT; its role says whether it can call the Admin API.
        try:
            payload = key.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, UnicodeDecodeError):
            return "is not a valid JWT"
        role = claims.get("role") if isinstance(claims, dict) else None
        if role not in ("service_role", "supabase_admin"):
            return f"is a JWT for role {role!r}; use the service_role key"
    return None


def describe_settings_error(error: ValidationError) -> str:
    """One line naming each bad variable, without echoing secret values."""
    parts: list[str] = []
    for problem in error.errors(include_url=False):
        location = [str(part) for part in problem["loc"]]
        message = problem["msg"].removeprefix("Value error, ")
        if not location:
            parts.append(message)
            continue
        variable = location[0].upper()
        if location[0] in _NEVER_ECHOED or "input" not in problem:
            parts.append(f"{variable}: {message}")
        else:
            parts.append(f"{variable}={problem['input']!r}: {message}")
    return "invalid configuration: " + "; ".join(parts)
