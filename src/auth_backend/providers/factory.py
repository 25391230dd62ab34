"""Chooses the identity provider from the settings."""

from __future__ import annotations

from auth_backend.providers.base import IdentityProvider
from auth_backend.providers.local import LocalProvider
from auth_backend.settings import Settings


def build_provider(settings: Settings) -> IdentityProvider:
    if settings.provider == "supabase":
        raise NotImplementedError("the supabase provider is not available yet")
    return LocalProvider(
        database_url=settings.database_url,
        issuer=settings.jwt_issuer,
        access_token_ttl=settings.access_token_ttl,
    )
