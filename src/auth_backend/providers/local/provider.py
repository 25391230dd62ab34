"""LocalProvider: the capabilities of the embedded store, composed from its aggregates."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

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
from auth_backend.errors import (
    EmailNotConfirmed,
    InvalidCode,
    InvalidCredentials,
    InvalidToken,
    NotFound,
    ProviderUnavailable,
    UserBanned,
)
from auth_backend.observability import provider_call
from auth_backend.providers.local.keys import SigningKeys
from auth_backend.providers.local.revocations import RevokedSessions
from auth_backend.providers.local.sessions import SessionPolicy, SessionStore, end_all_sessions
from auth_backend.providers.local.users import (
    StoredUser,
    Users,
    confirm_email,
    scrub_user,
    set_password,
)
from auth_backend.security.passwords import DEFAULT_ARGON2_MEMORY_MIB, PasswordHasher
from auth_backend.security.token_cache import VerifiedTokenCache
from auth_backend.security.tokens import (
    CLOCK_LEEWAY_SECONDS,
    LOCAL_SIGNING_ALGORITHM,
    AccessTokenVerifier,
    UnknownKeyId,
)
from auth_backend.store.database import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    UNAVAILABLE_DETAIL,
    Database,
    open_database,
    ping,
)
from auth_backend.store.migrations import migrate

DEFAULT_SESSION_POLICY = SessionPolicy(
    max_lifetime=timedelta(days=30),
    inactivity_timeout=timedelta(days=7),
    reuse_interval=timedelta(seconds=10),
)


@dataclass(frozen=True, slots=True)
class _Started:
    """What `start` opens; one object, so no half-started provider can be used."""

    database: Database
    users: Users
    sessions: SessionStore
    keys: SigningKeys
    revoked: RevokedSessions


class LocalProvider:
    name = "local"
    capabilities = frozenset(
        {
            Capability.ACCOUNTS,
            Capability.SESSIONS,
            Capability.RECOVERY,
            Capability.EMAIL_VERIFICATION,
        }
    )

    def __init__(
        self,
        *,
        database_url: str,
        issuer: str,
        access_token_ttl: int,
        argon2_memory_mib: int = DEFAULT_ARGON2_MEMORY_MIB,
        session_policy: SessionPolicy = DEFAULT_SESSION_POLICY,
        database_connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        database_statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
        email_confirmation_required: bool = False,
        database: Database | None = None,
    ) -> None:
        self._database_url = database_url
        self._confirmation_required = email_confirmation_required
        # Shared with the rest of the service (the mail outbox, one-time codes) when given;
        # then its owner opens, migrates and closes it.
        self._shared_database = database
        self._session_policy = session_policy
        self._database_timeouts = (database_connect_timeout, database_statement_timeout)
        self._issuer_name = issuer
        self._ttl = access_token_ttl
        self._hasher = PasswordHasher(memory_mib=argon2_memory_mib)
        self._verifier = AccessTokenVerifier(issuer=issuer)
        self._verified = VerifiedTokenCache()
        self._started: _Started | None = None

    @property
    def _parts(self) -> _Started:
        if self._started is None:
            raise RuntimeError("LocalProvider.start() has not run")
        return self._started

    @property
    def database(self) -> Database:
        return self._parts.database

    @property
    def keys(self) -> SigningKeys:
        return self._parts.keys

    async def start(self) -> None:
        database = self._shared_database
        if database is None:
            connect_timeout, statement_timeout = self._database_timeouts
            database = open_database(
                self._database_url,
                connect_timeout=connect_timeout,
                statement_timeout=statement_timeout,
            )
            await migrate(database)
        # A cached verification is only as good as the key that made it.
        keys = SigningKeys(
            database, issuer=self._issuer_name, ttl=self._ttl, on_change=self._verified.clear
        )
        await keys.load_or_create()
        sessions = SessionStore(database, self._session_policy)
        # The key ring rides on the once-a-second poll: a retired key stops signing on every
        # replica within about a second, with no query per request.
        revoked = RevokedSessions(
            sessions.revoked_since, self._ttl + CLOCK_LEEWAY_SECONDS, also_poll=[keys.refresh]
        )
        await revoked.start()
        self._started = _Started(database, Users(database), sessions, keys, revoked)
        await self._hasher.warm_up()

    async def aclose(self) -> None:
        started, self._started = self._started, None
        if started is not None:
            await started.revoked.stop()
        self._hasher.close()
        if started is not None and self._shared_database is None:
            await started.database.aclose()

    # --- Accounts ----------------------------------------------------------------------------

    async def sign_up(self, account: NewAccount, context: ClientContext) -> UserAccount:
        with provider_call(self.name, "sign_up"):
            password_hash = await self._hasher.hash(account.password)
            return await self._parts.users.create(
                email=account.email,
                password_hash=password_hash,
                user_metadata=account.user_metadata,
                now=_utc_now(),
                email_confirmed=account.email_confirmed,
            )

    async def sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        with provider_call(self.name, "sign_in"):
            return await self._sign_in(credentials, context)

    async def _sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        parts = self._parts
        parts.keys.ensure_can_sign()  # before any work
        stored = await parts.users.find_by_email(credentials.email)
        if stored is None:
            # Same work as a wrong password, so response time does not reveal the account.
            await self._hasher.verify_dummy(credentials.password)
            raise InvalidCredentials()
        result = await self._hasher.verify(credentials.password, stored.password_hash)
        if not result.valid:
            raise InvalidCredentials()
        # Only after the password: to anyone who does not know it, a banned account looks
        # like any other.
        if stored.banned_at(_utc_now()):
            raise UserBanned()
        if self._confirmation_required and stored.account.email_confirmed_at is None:
            raise EmailNotConfirmed()
        return await self._start_session(stored.account, context, result.upgraded_hash)

    async def _start_session(
        self, account: UserAccount, context: ClientContext, upgraded_password_hash: str | None
    ) -> TokenGrant:
        refresh_token = secrets.token_urlsafe(32)
        now = _utc_now()
        session_id, user = await self._parts.sessions.start(
            user=account,
            refresh_token=refresh_token,
            now=now,
            ip=context.ip,
            user_agent=context.user_agent,
            upgraded_password_hash=upgraded_password_hash,
        )
        return self._grant(user, session_id, refresh_token, now)

    # --- Recovery and EmailVerification ------------------------------------------------------

    async def recovery_target(self, email: str) -> CodeTarget | None:
        with provider_call(self.name, "recovery_target"):
            stored = await self._parts.users.find_by_email(email)
            return None if stored is None else CodeTarget(stored.account.id, stored.account.email)

    async def reset_password(
        self, redeemed: RedeemedCode, password: str, context: ClientContext
    ) -> TokenGrant:
        with provider_call(self.name, "reset_password"):
            parts = self._parts
            parts.keys.ensure_can_sign()
            stored = await self._account_of(redeemed)
            password_hash = await self._hasher.hash(password)
            now = _utc_now()
            ended = await parts.database.write(
                _reset_password, stored.account.id, password_hash, now
            )
            # Every earlier session ends on this replica at once, on the others within the
            # revocation poll, as after a global logout.
            parts.revoked.add(ended)
            return await self._start_session(_confirmed(stored.account, now), context, None)

    async def verification_target(self, email: str) -> CodeTarget | None:
        with provider_call(self.name, "verification_target"):
            stored = await self._parts.users.find_by_email(email)
            if stored is None or stored.account.email_confirmed_at is not None:
                return None
            return CodeTarget(stored.account.id, stored.account.email)

    async def confirm_email(self, redeemed: RedeemedCode, context: ClientContext) -> TokenGrant:
        with provider_call(self.name, "confirm_email"):
            parts = self._parts
            parts.keys.ensure_can_sign()
            stored = await self._account_of(redeemed)
            now = _utc_now()
            await parts.database.write(confirm_email, stored.account.id, now)
            return await self._start_session(_confirmed(stored.account, now), context, None)

    async def _account_of(self, redeemed: RedeemedCode) -> StoredUser:
        """The live account a redeemed code was mailed for, unless it was deleted since (then
        the code is as dead as any other) or is banned."""
        stored = await self._parts.users.find_live_by_id(redeemed.user_id)
        if stored is None or stored.account.email != redeemed.email:
            raise InvalidCode()
        if stored.banned_at(_utc_now()):
            raise UserBanned()
        return stored

    # --- Sessions ----------------------------------------------------------------------------

    async def refresh(self, refresh_token: str, context: ClientContext) -> TokenGrant:
        with provider_call(self.name, "refresh"):
            parts = self._parts
            # Before rotating: a rotated refresh token with no tokens to show for it is lost.
            parts.keys.ensure_can_sign()
            replacement = secrets.token_urlsafe(32)
            now = _utc_now()
            rotation = await parts.sessions.rotate(
                presented=refresh_token, replacement=replacement, now=now
            )
            if rotation.refusal is not None:
                # The store has ended the session: this replica stops its tokens at once.
                parts.revoked.add([rotation.session_id])
                raise rotation.refusal
            assert rotation.user is not None  # a rotation without a refusal stored a token
            return self._grant(rotation.user, rotation.session_id, replacement, now)

    async def sign_out(
        self, access_token: str, claims: AccessClaims, scope: LogoutScope, context: ClientContext
    ) -> None:
        with provider_call(self.name, "sign_out"):
            if claims.session_id is None:
                raise InvalidToken("The access token carries no session.")
            parts = self._parts
            ended = await parts.sessions.end(
                user_id=claims.subject,
                current_session=UUID(claims.session_id),
                scope=scope,
                now=_utc_now(),
            )
            parts.revoked.add(ended)

    # --- deleting accounts -------------------------------------------------------------------

    async def delete_user(self, user_id: UUID) -> None:
        """Delete the account and end its sessions, on every replica within a second.

        The row is kept, scrubbed (users.deleted_at), so that its ended sessions stay visible
        to every replica's revocation poll until their tokens have expired."""
        with provider_call(self.name, "delete_user"):
            parts = self._parts
            ended = await parts.database.write(_delete_account, user_id, _utc_now())
            if ended is None:
                raise NotFound("There is no such user.")
            parts.revoked.add(ended)

    # --- every provider ----------------------------------------------------------------------

    async def verify_access_token(self, token: str) -> AccessClaims:
        self._parts.keys.end_due_overlaps()  # a retired key's cached tokens end with it
        claims = self._verified.get(token)
        if claims is None:
            claims = await self._verify_signature_and_claims(token)
            self._verified.put(token, claims)
        # Checked on every call, cached or not: a logout takes effect at once.
        if claims.session_id in self._parts.revoked:
            raise InvalidToken("The session of this access token has ended.")
        return claims

    async def _verify_signature_and_claims(self, token: str) -> AccessClaims:
        keys = self._parts.keys
        try:
            return self._verifier.verify(token, keys.resolve, (LOCAL_SIGNING_ALGORITHM,))
        except UnknownKeyId:
            if not await keys.reload_if_due():
                raise
            return self._verifier.verify(token, keys.resolve, (LOCAL_SIGNING_ALGORITHM,))

    async def public_keys(self) -> dict[str, Any]:
        return self._parts.keys.public_jwks()

    async def check_ready(self) -> None:
        try:
            await self._parts.database.read(ping)
        except ProviderUnavailable:
            raise  # the database layer's, with the driver's error as its cause
        except Exception as error:  # any driver failure means the same thing here
            raise ProviderUnavailable(UNAVAILABLE_DETAIL) from error
        self._parts.keys.ensure_can_sign()

    def _grant(
        self, user: UserAccount, session_id: UUID, refresh_token: str, now: datetime
    ) -> TokenGrant:
        issued = self._parts.keys.issuer.issue(user, session_id, int(now.timestamp()))
        return TokenGrant(
            access_token=issued.token,
            expires_in=issued.expires_at - issued.issued_at,
            expires_at=issued.expires_at,
            refresh_token=refresh_token,
            user=user,
        )


def _reset_password(
    connection: Connection, user_id: UUID, password_hash: str, now: datetime
) -> list[UUID]:
    # The new password, the address verified (the mail reached it), every session ended:
    # all or nothing.
    set_password(connection, user_id, password_hash, now)
    confirm_email(connection, user_id, now)
    return end_all_sessions(connection, user_id, now)


def _delete_account(connection: Connection, user_id: UUID, now: datetime) -> list[UUID] | None:
    ended = end_all_sessions(connection, user_id, now)
    return ended if scrub_user(connection, user_id, now) else None


def _confirmed(account: UserAccount, now: datetime) -> UserAccount:
    return replace(account, email_confirmed_at=account.email_confirmed_at or now)


def _utc_now() -> datetime:
    return datetime.now(UTC)
