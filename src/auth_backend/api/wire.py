"""Domain objects to wire models: the only place the two meet."""

from __future__ import annotations

from auth_backend.domain import TokenGrant, UserAccount
from auth_backend.models import Metadata, TokenResponse, User


def user_to_wire(user: UserAccount) -> User:
    return User(
        id=user.id,
        email=user.email,
        role=user.role,
        aud=user.aud,
        email_confirmed_at=user.email_confirmed_at,
        created_at=user.created_at,
        updated_at=user.updated_at,
        last_sign_in_at=user.last_sign_in_at,
        user_metadata=Metadata(**user.user_metadata),
        app_metadata=Metadata(**user.app_metadata),
    )


def grant_to_wire(grant: TokenGrant) -> TokenResponse:
    return TokenResponse(
        access_token=grant.access_token,
        token_type="bearer",
        expires_in=grant.expires_in,
        expires_at=grant.expires_at,
        refresh_token=grant.refresh_token,
        user=user_to_wire(grant.user),
    )
