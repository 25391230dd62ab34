"""The application layer: one method per flow, between the API and the identity provider.

Each flow runs the same steps in the same order: normalise the input (inputs.py), throttle,
call the provider's capability, audit the outcome. Outcome metrics are counted around the
whole operation, parsing included, by the operations table (api/operations.py). Handlers in
api/ only turn wire models into the arguments here and the results into responses.

`caller` is the one way to learn who is calling: bearer extraction, token verification, the
ended-session check and the provider's cache of verified tokens, all behind one call. Guards
(api/guards.py) are built on it.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from auth_backend import inputs
from auth_backend.audit import audit
from auth_backend.domain import (
    Caller,
    Capability,
    ClientContext,
    JsonObject,
    LogoutScope,
    TokenGrant,
    UserAccount,
)
from auth_backend.errors import (
    InvalidCredentials,
    InvalidToken,
    MissingToken,
    NotSupportedByProvider,
    ProviderUnavailable,
    RefreshTokenReused,
    ServiceError,
)
from auth_backend.providers.base import Accounts, IdentityProvider, Sessions, offered
from auth_backend.security.throttling import Rule, Throttle


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1)."""
    if not authorization:
        raise MissingToken()
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise InvalidToken("The Authorization header must be 'Bearer <token>'.")
    return token


class AuthService:
    def __init__(self, provider: IdentityProvider, throttle: Throttle) -> None:
        self.provider = provider
        self._throttle = throttle
        self._accounts = cast("Accounts | None", offered(provider, Capability.ACCOUNTS))
        self._sessions = cast("Sessions | None", offered(provider, Capability.SESSIONS))

    def offers(self, capability: Capability) -> bool:
        return capability in self.provider.capabilities

    # --- who is calling ----------------------------------------------------------------------

    async def caller(self, authorization: str | None) -> Caller:
        token = bearer_token(authorization)
        return Caller(token=token, claims=await self.provider.verify_access_token(token))

    # --- flows -------------------------------------------------------------------------------

    async def sign_up(
        self, email: str, password: str, user_metadata: JsonObject | None, client: ClientContext
    ) -> UserAccount:
        normalized_email = inputs.normalize_email(email)
        try:
            await self._throttle.consume(Rule.SIGNUP_PER_IP, client.ip or "unknown")
            account = inputs.new_account(normalized_email, password, user_metadata)
            user = await self._accounts_or_501().sign_up(account, client)
        except ServiceError as error:
            audit("signup_failed", ip=client.ip, email=normalized_email, reason=error.code)
            raise
        audit("signup_succeeded", ip=client.ip, user_id=str(user.id))
        return user

    async def log_in(
        self, email: str, password: str, client: ClientContext, email_field: str = "body.email"
    ) -> TokenGrant:
        credentials = inputs.credentials(email, password, email_field)
        try:
            await self._throttle.consume(Rule.LOGIN_PER_IP, client.ip or "unknown")
            # Counted per email whether or not the account exists, so limits reveal nothing.
            await self._throttle.check(Rule.LOGIN_PER_ACCOUNT, credentials.email)
            grant = await self._accounts_or_501().sign_in(credentials, client)
        except ServiceError as error:
            if isinstance(error, InvalidCredentials):
                await self._throttle.record(Rule.LOGIN_PER_ACCOUNT, credentials.email)
            audit("login_failed", ip=client.ip, email=credentials.email, reason=error.code)
            raise
        audit("login_succeeded", ip=client.ip, user_id=str(grant.user.id))
        return grant

    async def refresh(self, refresh_token: str, client: ClientContext) -> TokenGrant:
        try:
            await self._throttle.consume(Rule.REFRESH_PER_IP, client.ip or "unknown")
            grant = await self._sessions_or_501().refresh(refresh_token, client)
        except ServiceError as error:
            reused = isinstance(error, RefreshTokenReused)
            event = "refresh_token_reuse_detected" if reused else "refresh_failed"
            audit(event, ip=client.ip, reason=error.code)
            raise
        audit("refresh_succeeded", ip=client.ip, user_id=str(grant.user.id))
        return grant

    async def log_out(self, caller: Caller, scope: LogoutScope, client: ClientContext) -> None:
        await self._sessions_or_501().sign_out(caller.token, caller.claims, scope, client)
        audit(
            "logout",
            ip=client.ip,
            user_id=str(caller.claims.subject),
            session_id=caller.claims.session_id,
            scope=scope,
        )

    @staticmethod
    def me(caller: Caller) -> UserAccount:
        # Answered from the verified token alone: no round trip on the hottest route.
        return caller.claims.to_account()

    # --- operating ---------------------------------------------------------------------------

    async def check_ready(self, timeout_seconds: float) -> None:
        """Raise a ServiceError naming what is not ready; a dependency that hangs must not
        hang the probe, so not answering within the timeout is not ready either."""
        try:
            async with asyncio.timeout(timeout_seconds):
                await self.provider.check_ready()
        except TimeoutError:
            raise ProviderUnavailable(
                f"The {self.provider.name} identity provider did not answer within "
                f"{timeout_seconds:g} seconds."
            ) from None
        except ServiceError:
            raise
        except Exception as error:
            # The Protocol asks for Provider* errors; anything else means "not ready" as much.
            raise ProviderUnavailable(
                f"The {self.provider.name} identity provider failed its readiness check."
            ) from error

    async def public_keys(self) -> dict[str, Any]:
        return await self.provider.public_keys()

    # --- capabilities ------------------------------------------------------------------------

    def _accounts_or_501(self) -> Accounts:
        if self._accounts is None:
            raise NotSupportedByProvider(Capability.ACCOUNTS)
        return self._accounts

    def _sessions_or_501(self) -> Sessions:
        if self._sessions is None:
            raise NotSupportedByProvider(Capability.SESSIONS)
        return self._sessions
