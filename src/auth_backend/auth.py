"""The application layer: one method per flow, between the API and the identity provider.

Each flow runs the same steps in the same order: throttle per client IP, normalise the input
(inputs.py), throttle per account, call the provider's capability, audit the outcome. The
per-IP limit comes first so that a throttled client costs no work: normalising a password is
NFKC over whatever length the body allows. Outcome metrics are counted around the
whole operation, parsing included, by the operations table (api/operations.py). Handlers in
api/ only turn wire models into the arguments here and the results into responses.

`caller` is the one way to learn who is calling: bearer extraction, token verification, the
ended-session check and the provider's cache of verified tokens, all behind one call. Guards
(api/guards.py) are built on it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, NoReturn, cast

from auth_backend import inputs
from auth_backend.audit import audit
from auth_backend.domain import (
    Caller,
    Capability,
    ClientContext,
    CodeProof,
    Credentials,
    JsonObject,
    LogoutScope,
    TokenGrant,
    UserAccount,
)
from auth_backend.email_flows import EmailFlows
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
from auth_backend.security.throttling import Reservation, Rule, Throttle
from auth_backend.security.timing import FailureFloor


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
    def __init__(
        self,
        provider: IdentityProvider,
        throttle: Throttle,
        failure_floor: FailureFloor,
        emails: EmailFlows,
        *,
        email_confirmation_required: bool = False,
    ) -> None:
        self.provider = provider
        self._throttle = throttle
        self._failure_floor = failure_floor
        self._emails = emails
        self._confirmation_required = email_confirmation_required
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
        await self._consume_per_ip(Rule.SIGNUP_PER_IP, client, "signup_failed")
        normalized_email = inputs.normalize_email(email)
        try:
            account = inputs.new_account(
                email, password, user_metadata, email_confirmed=not self._confirmation_required
            )
            user = await self._accounts_or_501().sign_up(account, client)
        except ServiceError as error:
            audit("signup_failed", ip=client.ip, email=normalized_email, reason=error.code)
            raise
        audit("signup_succeeded", ip=client.ip, user_id=str(user.id))
        if self._confirmation_required:
            await self._mail_first_verification(user, client)
        return user

    async def _mail_first_verification(self, user: UserAccount, client: ClientContext) -> None:
        try:
            await self._emails.mail_verification(user, client)
        except ServiceError as error:
            # The account exists: failing the signup now would only make its retry a 409.
            # The user asks for the mail again (resendVerification).
            audit("verification_mail_failed", ip=client.ip, user_id=str(user.id), reason=error.code)

    def refuse_sign_up(self, email: str, error: ServiceError, client: ClientContext) -> NoReturn:
        """A signup the contract's schema refused for its password alone: audited like any
        other refused signup, then raised (no password was normalised or hashed)."""
        audit("signup_failed", ip=client.ip, email=inputs.normalize_email(email), reason=error.code)
        raise error

    async def log_in(
        self, email: str, password: str, client: ClientContext, email_field: str = "body.email"
    ) -> TokenGrant:
        # A failure's time is floored from here, reservations and all (security/timing.py).
        started = time.monotonic()
        await self._consume_per_ip(Rule.LOGIN_PER_IP, client, "login_failed")
        normalized_email = inputs.normalize_email(email, email_field)
        reservations: list[Reservation] = []
        try:
            # Counted per email whether or not the account exists, so limits reveal nothing;
            # reserved before the password is verified, so that concurrent guesses cannot all
            # be verified under one check, and refunded below unless the guess was wrong.
            reservations.append(
                await self._throttle.reserve(
                    Rule.LOGIN_PER_ACCOUNT,
                    normalized_email,
                    self._throttle.client_key(client.ip),
                )
            )
            reservations.append(
                await self._throttle.reserve(Rule.LOGIN_PER_ACCOUNT_CEILING, normalized_email)
            )
            credentials = inputs.credentials_for(normalized_email, password)
            grant = await self._sign_in(credentials, client, started)
        except ServiceError as error:
            if not isinstance(error, InvalidCredentials):
                # Not a verified guess: refused by a limit (the other one's slot is returned),
                # by validation, or the provider failed.
                await self._throttle.refund(*reservations)
            audit("login_failed", ip=client.ip, email=normalized_email, reason=error.code)
            raise
        await self._throttle.refund(*reservations)
        audit("login_succeeded", ip=client.ip, user_id=str(grant.user.id))
        return grant

    async def _sign_in(
        self, credentials: Credentials, client: ClientContext, started: float
    ) -> TokenGrant:
        accounts = self._accounts_or_501()
        try:
            return await accounts.sign_in(credentials, client)
        except InvalidCredentials:
            # Every failure takes as long, whatever made it fail (security/timing.py).
            await self._failure_floor.pad(started)
            raise

    async def refresh(self, refresh_token: str, client: ClientContext) -> TokenGrant:
        await self._consume_per_ip(Rule.REFRESH_PER_IP, client, "refresh_failed")
        try:
            grant = await self._sessions_or_501().refresh(refresh_token, client)
        except ServiceError as error:
            reused = isinstance(error, RefreshTokenReused)
            event = "refresh_token_reuse_detected" if reused else "refresh_failed"
            audit(event, ip=client.ip, reason=error.code)
            raise
        audit("refresh_succeeded", ip=client.ip, user_id=str(grant.user.id))
        return grant

    async def _consume_per_ip(self, rule: Rule, client: ClientContext, event: str) -> None:
        """Count the request against `rule` for the client's IP (IPv6: its network); a
        refusal is audited as `event`, before anything of the request has been read."""
        try:
            await self._throttle.consume(rule, self._throttle.client_key(client.ip))
        except ServiceError as error:
            audit(event, ip=client.ip, reason=error.code)
            raise

    async def log_out(self, caller: Caller, scope: LogoutScope, client: ClientContext) -> None:
        await self._sessions_or_501().sign_out(caller.token, caller.claims, scope, client)
        audit(
            "logout",
            ip=client.ip,
            user_id=str(caller.claims.subject),
            session_id=caller.claims.session_id,
            scope=scope,
        )

    # --- mailed codes (email_flows.py) -------------------------------------------------------

    async def request_recovery(self, email: str, client: ClientContext) -> None:
        await self._emails.request_recovery(email, client)

    async def confirm_recovery(
        self, proof: CodeProof, password: str, client: ClientContext
    ) -> TokenGrant:
        return await self._emails.confirm_recovery(proof, password, client)

    async def resend_verification(self, email: str, client: ClientContext) -> None:
        await self._emails.resend_verification(email, client)

    async def verify_email(self, proof: CodeProof, client: ClientContext) -> TokenGrant:
        return await self._emails.verify_email(proof, client)

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
        except ServiceError as error:
            if error.status == ProviderUnavailable.status:
                raise
            # /ready answers 200 or 503 only: a provider's 429 or 502 while checking means
            # "not ready" to a probe, and the cause stays attached for the log.
            raise ProviderUnavailable(
                f"The {self.provider.name} identity provider failed its readiness check."
            ) from error
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
