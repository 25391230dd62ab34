"""The flows that mail a code: account recovery and email verification, the same on every
provider.

Requesting a code: throttle per client IP, normalise the address, throttle per address (known
or not), ask the provider for the account the mail would reach, then in one transaction end
the address's previous codes and, when there is an account, store the new code's hashes with
the mail that carries it (the outbox). Every request, known address or not, costs the same
lookup and the same write, and is padded to the same floor (security/timing.py), so neither
the answer nor its time says whether the address has an account.

Presenting a code: throttle per client IP (and per address when one is given), redeem the code
in the store (single use, dead after CODE_MAX_ATTEMPTS wrong guesses), then let the provider
act on it: set the password, or mark the address verified, and start a session. Wrong,
expired, used and superseded codes are one answer, `invalid_code`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast
from uuid import uuid4

from sqlalchemy.engine import Connection

from auth_backend import inputs
from auth_backend.audit import audit
from auth_backend.domain import (
    Capability,
    ClientContext,
    CodeProof,
    CodeTarget,
    RedeemedCode,
    TokenGrant,
    UserAccount,
)
from auth_backend.errors import InvalidCode, NotSupportedByProvider, ServiceError
from auth_backend.mail.messages import OutgoingMail
from auth_backend.mail.outbox import enqueue
from auth_backend.mail.templates import MailTemplates
from auth_backend.observability.metrics import count_email_flow_step
from auth_backend.providers.base import EmailVerification, IdentityProvider, Recovery, offered
from auth_backend.security.codes import new_code, new_link_token, seal, unseal
from auth_backend.security.passwords import check_password_policy, normalize_password
from auth_backend.security.throttling import Rule, Throttle
from auth_backend.security.timing import FailureFloor
from auth_backend.store.database import Database
from auth_backend.store.one_time_codes import (
    CodeGuess,
    NewCode,
    Purpose,
    RedeemedRow,
    end_previous_codes,
    insert_code,
    redeem_by_code,
    redeem_by_link_token,
)

# Where the client application takes the link's token from: the fragment never reaches a
# server's access log, the application's or ours.
LINK_PATHS: dict[Purpose, str] = {
    "recovery": "/reset-password",
    "verification": "/verify-email",
}


@dataclass(frozen=True, slots=True)
class EmailFlowSettings:
    link_base: str
    recovery_ttl: int
    verification_ttl: int
    max_attempts: int


class EmailFlows:
    def __init__(
        self,
        provider: IdentityProvider,
        throttle: Throttle,
        database: Database,
        templates: MailTemplates,
        settings: EmailFlowSettings,
        *,
        request_floor: FailureFloor,
        rejection_floor: FailureFloor,
        mail_queued: Callable[[], None],
    ) -> None:
        self._recovery = cast("Recovery | None", offered(provider, Capability.RECOVERY))
        self._verification = cast(
            "EmailVerification | None", offered(provider, Capability.EMAIL_VERIFICATION)
        )
        self._throttle = throttle
        self._database = database
        self._templates = templates
        self._settings = settings
        self._request_floor = request_floor
        self._rejection_floor = rejection_floor
        self._mail_queued = mail_queued

    # --- recovery ----------------------------------------------------------------------------

    async def request_recovery(self, email: str, client: ClientContext) -> None:
        recovery = self._recovery_or_501()
        await self._request_code("recovery", email, client, recovery.recovery_target)

    async def confirm_recovery(
        self, proof: CodeProof, password: str, client: ClientContext
    ) -> TokenGrant:
        recovery = self._recovery_or_501()
        started = time.monotonic()
        await self._consume_per_ip(Rule.CODE_CHECK_PER_IP, client, "recovery")
        # The new password is checked before the code is touched: a weak one costs no code.
        normalized = normalize_password(password)
        check_password_policy(normalized)
        redeemed = await self._redeem("recovery", proof, client, started)
        try:
            grant = await recovery.reset_password(redeemed, normalized, client)
        except ServiceError as error:
            audit("recovery_failed", ip=client.ip, user_id=str(redeemed.user_id), reason=error.code)
            raise
        count_email_flow_step("recovery", "confirmed")
        audit("recovery_completed", ip=client.ip, user_id=str(redeemed.user_id))
        return grant

    # --- email verification ------------------------------------------------------------------

    async def resend_verification(self, email: str, client: ClientContext) -> None:
        verification = self._verification_or_501()
        await self._request_code("verification", email, client, verification.verification_target)

    async def mail_verification(self, user: UserAccount, client: ClientContext) -> None:
        """Mail the first verification code of an account that has just signed up (limited by
        the signup's own limits)."""
        verification = self._verification_or_501()
        target = await verification.verification_target(user.email)
        await self._issue("verification", user.email, target)
        count_email_flow_step("verification", "requested")
        audit(
            "verification_requested", ip=client.ip, user_id=str(user.id), mailed=target is not None
        )

    async def verify_email(self, proof: CodeProof, client: ClientContext) -> TokenGrant:
        verification = self._verification_or_501()
        started = time.monotonic()
        await self._consume_per_ip(Rule.CODE_CHECK_PER_IP, client, "verification")
        redeemed = await self._redeem("verification", proof, client, started)
        try:
            grant = await verification.confirm_email(redeemed, client)
        except ServiceError as error:
            audit(
                "verification_failed",
                ip=client.ip,
                user_id=str(redeemed.user_id),
                reason=error.code,
            )
            raise
        count_email_flow_step("verification", "confirmed")
        audit("verification_completed", ip=client.ip, user_id=str(redeemed.user_id))
        return grant

    # --- the shared steps --------------------------------------------------------------------

    async def _request_code(
        self,
        purpose: Purpose,
        email: str,
        client: ClientContext,
        find_target: Callable[[str], Awaitable[CodeTarget | None]],
    ) -> None:
        started = time.monotonic()
        await self._consume_per_ip(Rule.EMAIL_SEND_PER_IP, client, purpose)
        normalized = inputs.normalize_email(email)
        await self._consume_per_address(Rule.EMAIL_SEND_PER_ADDRESS, normalized, client, purpose)
        target = await find_target(normalized)
        await self._issue(purpose, normalized, target)
        # The answer leaves no sooner than the floor, whichever branch ran.
        await self._request_floor.pad(started)
        count_email_flow_step(purpose, "requested")
        audit(
            f"{purpose}_requested",
            ip=client.ip,
            user_id=str(target.user_id) if target else None,
            email=normalized,
            mailed=target is not None,
        )

    async def _issue(self, purpose: Purpose, email: str, target: CodeTarget | None) -> None:
        now = datetime.now(UTC)
        issued = None if target is None else self._new_code(purpose, target, now)
        await self._database.write(_store_code_and_mail, (purpose, email), issued, now)
        if issued is not None:
            self._mail_queued()

    def _new_code(
        self, purpose: Purpose, target: CodeTarget, now: datetime
    ) -> tuple[NewCode, OutgoingMail]:
        ttl = self._ttl(purpose)
        link_token = new_link_token()
        upstream = target.upstream
        code = NewCode(
            id=uuid4(),
            purpose=purpose,
            email=target.email,
            user_id=target.user_id,
            code=upstream.code if upstream else new_code(),
            link_token=link_token,
            expires_at=now + timedelta(seconds=ttl),
            upstream_secret=seal(upstream.token_hash, link_token) if upstream else None,
        )
        mail = self._templates.render(
            # A code's purpose names its mail's kind (the same two words).
            purpose,
            target.email,
            code=code.code,
            link=f"{self._settings.link_base.rstrip('/')}{LINK_PATHS[purpose]}#token={link_token}",
            expires_in_seconds=ttl,
        )
        return code, mail

    async def _redeem(
        self, purpose: Purpose, proof: CodeProof, client: ClientContext, started: float
    ) -> RedeemedCode:
        now = datetime.now(UTC)
        row: RedeemedRow | None
        if proof.link_token is not None:
            # Exclusive (BEGIN IMMEDIATE on SQLite): the check and the use of a code are one
            # step for every process sharing the file, not only this one's writer thread.
            row = await self._database.write_exclusive(
                redeem_by_link_token, purpose, proof.link_token, now, self._settings.max_attempts
            )
        else:
            assert proof.email is not None and proof.code is not None  # the contract's shapes
            email = inputs.normalize_email(proof.email)
            await self._consume_per_address(Rule.CODE_CHECK_PER_ADDRESS, email, client, purpose)
            row = await self._database.write_exclusive(
                redeem_by_code,
                CodeGuess(purpose, email, proof.code),
                now,
                self._settings.max_attempts,
            )
        if row is None:
            # Wrong, expired, used, superseded and unknown all take as long, and answer alike.
            await self._rejection_floor.pad(started)
            count_email_flow_step(purpose, "rejected")
            audit(f"{purpose}_code_rejected", ip=client.ip, reason=InvalidCode.code)
            raise InvalidCode()
        upstream_token_hash = None
        if row.upstream_secret is not None and proof.link_token is not None:
            upstream_token_hash = unseal(row.upstream_secret, proof.link_token)
        return RedeemedCode(
            user_id=row.user_id,
            email=row.email,
            code=proof.code,
            upstream_token_hash=upstream_token_hash,
        )

    async def _consume_per_ip(self, rule: Rule, client: ClientContext, purpose: str) -> None:
        try:
            await self._throttle.consume(rule, self._throttle.client_key(client.ip))
        except ServiceError as error:
            audit(f"{purpose}_refused", ip=client.ip, reason=error.code)
            raise

    async def _consume_per_address(
        self, rule: Rule, email: str, client: ClientContext, purpose: str
    ) -> None:
        try:
            await self._throttle.consume(rule, email)
        except ServiceError as error:
            audit(f"{purpose}_refused", ip=client.ip, email=email, reason=error.code)
            raise

    def _ttl(self, purpose: Purpose) -> int:
        if purpose == "recovery":
            return self._settings.recovery_ttl
        return self._settings.verification_ttl

    def _recovery_or_501(self) -> Recovery:
        if self._recovery is None:
            raise NotSupportedByProvider(Capability.RECOVERY)
        return self._recovery

    def _verification_or_501(self) -> EmailVerification:
        if self._verification is None:
            raise NotSupportedByProvider(Capability.EMAIL_VERIFICATION)
        return self._verification


def _store_code_and_mail(
    connection: Connection,
    purpose_and_email: tuple[Purpose, str],
    issued: tuple[NewCode, OutgoingMail] | None,
    now: datetime,
) -> None:
    # One transaction: the code and the mail that carries it exist together or not at all.
    end_previous_codes(connection, *purpose_and_email, now)
    if issued is not None:
        code, mail = issued
        insert_code(connection, code, now)
        enqueue(connection, mail, now)
