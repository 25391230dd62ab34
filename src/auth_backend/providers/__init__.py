"""The identity providers, and `build_provider`, which chooses one from the settings.

Providers are imported when chosen: the local one brings SQLAlchemy and Alembic, the Supabase
one aiohttp, and a process needs only one of them (start-up time, memory).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr

from auth_backend.providers.base import IdentityProvider
from auth_backend.settings import Settings
from auth_backend.store.database import Database


def build_provider(settings: Settings, database: Database | None = None) -> IdentityProvider:
    """The configured provider; the local one keeps its accounts in `database` (opened,
    migrated and closed by the caller) when given, else in a store of its own."""
    if settings.provider == "supabase":
        return _supabase(settings)
    from auth_backend.providers.local import LocalProvider, SessionPolicy  # noqa: PLC0415

    return LocalProvider(
        database_url=settings.database_url,
        issuer=settings.jwt_issuer,
        access_token_ttl=settings.access_token_ttl,
        argon2_memory_mib=settings.argon2_memory_mib,
        session_policy=SessionPolicy(
            max_lifetime=timedelta(seconds=settings.session_max_lifetime),
            inactivity_timeout=timedelta(seconds=settings.session_inactivity_timeout),
            reuse_interval=timedelta(seconds=settings.refresh_token_reuse_interval),
        ),
        database_connect_timeout=settings.database_connect_timeout,
        database_statement_timeout=settings.database_statement_timeout,
        email_confirmation_required=settings.email_confirmation == "required",
        database=database,
    )


def _supabase(settings: Settings) -> IdentityProvider:
    from auth_backend.providers.supabase import SupabaseProvider  # noqa: PLC0415

    # The settings validator guarantees the URL and service key for this provider.
    assert settings.supabase_service_key is not None
    return SupabaseProvider(
        project_url=settings.supabase_base_url,
        service_key=settings.supabase_service_key.get_secret_value(),
        anon_key=_secret(settings.supabase_anon_key),
        jwt_secret=_secret(settings.supabase_jwt_secret),
        issuer=settings.supabase_issuer,
        auto_confirm=settings.signup_auto_confirm,
        client_ip_header=settings.supabase_client_ip_header,
        timeout_seconds=settings.supabase_timeout,
        email_confirmation_required=settings.email_confirmation == "required",
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
