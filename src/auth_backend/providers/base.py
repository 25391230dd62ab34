"""The one interface both identity providers implement."""

from __future__ import annotations

from typing import Any, Protocol

from auth_backend.domain import (
    AccessClaims,
    ClientContext,
    Credentials,
    LogoutScope,
    NewAccount,
    TokenGrant,
    UserAccount,
)


class IdentityProvider(Protocol):
    """Everything the API needs from an identity provider.

    Implementations raise the `auth_backend.errors` exceptions, never transport or driver
    errors, so that every provider fails the same way on the wire.
    """

    name: str

    async def start(self) -> None:
        """Open connections and load keys; called once by the app's lifespan."""

    async def aclose(self) -> None:
        """Release everything `start` opened."""

    async def sign_up(self, account: NewAccount, context: ClientContext) -> UserAccount:
        """Create the account. Raises EmailExists, WeakPassword, Provider* errors."""

    async def sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        """Check the password and issue tokens. Raises InvalidCredentials and friends."""

    async def refresh(self, refresh_token: str, context: ClientContext) -> TokenGrant:
        """Rotate the refresh token and issue new tokens. Raises InvalidRefreshToken."""

    async def sign_out(
        self, access_token: str, claims: AccessClaims, scope: LogoutScope, context: ClientContext
    ) -> None:
        """End the sessions `scope` names, for the user of the verified token."""

    async def verify_access_token(self, token: str) -> AccessClaims:
        """Verify signature and claims locally. Raises InvalidToken."""

    async def public_keys(self) -> dict[str, Any]:
        """The JWKS that verifies this provider's access tokens."""

    async def check_ready(self) -> None:
        """Raise a Provider* error naming what is not ready."""
