"""Configuration from the environment (and an optional `.env`), validated once at start-up.

A bad value stops the service with one line that names the variable; secret values are never
repeated in that line.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, HttpUrl, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ProviderName = Literal["local", "supabase"]
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


class Settings(BaseSettings):
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
        description="Local provider's store: sqlite:///path or postgresql://user@host/db "
        "(SQLAlchemy driver URLs work too).",
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

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, value: str) -> str:
        return to_async_database_url(value)

    @model_validator(mode="after")
    def _provider_is_configured(self) -> Settings:
        if self.provider == "supabase":
            if self.supabase_url is None:
                raise ValueError("SUPABASE_URL is required when AUTH_PROVIDER=supabase")
            if self.supabase_service_key is None:
                raise ValueError("SUPABASE_SERVICE_KEY is required with the supabase provider")
        return self

    @property
    def provider(self) -> ProviderName:
        if self.auth_provider is not None:
            return self.auth_provider
        return "supabase" if self.supabase_url is not None else "local"

    @cached_property
    def database_url_for_logs(self) -> str:
        return make_url(self.database_url).render_as_string(hide_password=True)


# Values that may hold credentials (a database URL can carry a password).
_NEVER_ECHOED = frozenset(
    {"database_url", "supabase_service_key", "supabase_anon_key", "supabase_jwt_secret"}
)


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
