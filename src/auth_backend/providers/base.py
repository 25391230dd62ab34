"""What an identity provider can do, as small capability Protocols.

Every provider verifies access tokens and has a lifecycle (`IdentityProvider`). Everything
else is a capability it declares in `capabilities` and implements with the matching Protocol
(`PROTOCOLS`); the application layer asks for a capability with `offered()` and answers
`501 not_supported_by_provider` for one a provider does not declare, so a provider never has
to fake what its backend cannot do. New flows add a `Capability` member and a Protocol here
(user administration, factors and signing-key management are the next ones), then implement
it in `local/` and `supabase/`, or leave it out of `capabilities`.

Implementations raise the `auth_backend.errors` exceptions, never transport or driver
errors, so that every provider fails the same way on the wire.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from auth_backend.domain import (
    AccessClaims,
    Capability,
    ClientContext,
    CodeTarget,
    Credentials,
    LogoutScope,
    NewAccount,
    RedeemedCode,
    TokenGrant,
    UserAccount,
)


@runtime_checkable
class Accounts(Protocol):
    """Creating accounts and signing in with a password."""

    async def sign_up(self, account: NewAccount, context: ClientContext) -> UserAccount:
        """Create the account. Raises EmailExists, WeakPassword, Provider* errors."""

    async def sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        """Check the password and issue tokens. Raises InvalidCredentials and friends."""


@runtime_checkable
class Sessions(Protocol):
    """Refresh-token rotation and ending sessions."""

    async def refresh(self, refresh_token: str, context: ClientContext) -> TokenGrant:
        """Rotate the refresh token and issue new tokens. Raises InvalidRefreshToken."""

    async def sign_out(
        self, access_token: str, claims: AccessClaims, scope: LogoutScope, context: ClientContext
    ) -> None:
        """End the sessions `scope` names, for the user of the verified token."""


@runtime_checkable
class Recovery(Protocol):
    """Setting a new password with a code mailed by the service (email_flows.py)."""

    async def recovery_target(self, email: str) -> CodeTarget | None:
        """The account a recovery mail to `email` would reach, or None when none would
        (answered the same to the client either way)."""

    async def reset_password(
        self, redeemed: RedeemedCode, password: str, context: ClientContext
    ) -> TokenGrant:
        """Set the (policy-checked) password, end every session of the user, verify the
        address (the mail reached it) and start a new session. Raises InvalidCode when the
        account is gone, UserBanned, WeakPassword, Provider* errors."""


@runtime_checkable
class EmailVerification(Protocol):
    """Verifying an address with a code mailed by the service (email_flows.py)."""

    async def verification_target(self, email: str) -> CodeTarget | None:
        """The account whose unverified address is `email`, or None (no account, or the
        address is verified already)."""

    async def confirm_email(self, redeemed: RedeemedCode, context: ClientContext) -> TokenGrant:
        """Mark the address verified and start a session. Raises InvalidCode when the account
        is gone, UserBanned, Provider* errors."""


PROTOCOLS: dict[Capability, type[object]] = {
    Capability.ACCOUNTS: Accounts,
    Capability.SESSIONS: Sessions,
    Capability.RECOVERY: Recovery,
    Capability.EMAIL_VERIFICATION: EmailVerification,
}


class IdentityProvider(Protocol):
    """What every provider does: its lifecycle, verifying access tokens, publishing keys."""

    name: str
    capabilities: frozenset[Capability]

    async def start(self) -> None:
        """Open connections and load keys; called once by the app's lifespan."""

    async def aclose(self) -> None:
        """Release everything `start` opened."""

    async def verify_access_token(self, token: str) -> AccessClaims:
        """Verify signature and claims locally, and that the session has not ended.
        Raises InvalidToken."""

    async def public_keys(self) -> dict[str, Any]:
        """The JWKS that verifies this provider's access tokens."""

    async def check_ready(self) -> None:
        """Raise a Provider* error naming what is not ready."""


def offered(provider: IdentityProvider, capability: Capability) -> object | None:
    """The provider, if it declares `capability`, else None; cast it to the capability's
    Protocol (`PROTOCOLS[capability]`).

    A declared capability must be implemented in full: checked here, once, when the
    application is built, so a half-implemented provider fails at start-up, not on a request.
    """
    if capability not in provider.capabilities:
        return None
    if not isinstance(provider, PROTOCOLS[capability]):
        raise TypeError(f"{provider.name} declares {capability} without implementing it")
    return provider
