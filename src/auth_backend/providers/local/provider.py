"""LocalProvider: the capabilities of the embedded store, composed from its aggregates."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from auth_backend.domain import (
    AccessClaims,
    Capability,
    ClientContext,
    Credentials,
    LogoutScope,
    NewAccount,
    TokenGrant,
    UserAccount,
)
from auth_backend.errors import (
    InvalidCredentials,
    InvalidToken,
    ProviderUnavailable,
    RefreshTokenReused,
)
from auth_backend.observability import provider_call
from auth_backend.providers.local.database import Database, open_database, ping
from auth_backend.providers.local.keys import SigningKeys
from auth_backend.providers.local.migrations import migrate
from auth_backend.providers.local.revocations import RevokedSessions
from auth_backend.providers.local.sessions import SessionStore
from auth_backend.providers.local.users import Users
from auth_backend.security.passwords import DEFAULT_ARGON2_MEMORY_MIB, PasswordHasher
from auth_backend.security.token_cache import VerifiedTokenCache
from auth_backend.security.tokens import (
    CLOCK_LEEWAY_SECONDS,
    LOCAL_SIGNING_ALGORITHM,
    AccessTokenVerifier,
    UnknownKeyId,
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
    capabilities = frozenset({Capability.ACCOUNTS, Capability.SESSIONS})

    def __init__(
        self,
        *,
        database_url: str,
        issuer: str,
        access_token_ttl: int,
        argon2_memory_mib: int = DEFAULT_ARGON2_MEMORY_MIB,
    ) -> None:
        self._database_url = database_url
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
        database = open_database(self._database_url)
        await migrate(database)
        # A cached verification is only as good as the key that made it.
        keys = SigningKeys(
            database, issuer=self._issuer_name, ttl=self._ttl, on_change=self._verified.clear
        )
        await keys.load_or_create()
        sessions = SessionStore(database)
        revoked = RevokedSessions(sessions.revoked_since, self._ttl + CLOCK_LEEWAY_SECONDS)
        await revoked.start()
        self._started = _Started(database, Users(database), sessions, keys, revoked)
        await self._hasher.warm_up()

    async def aclose(self) -> None:
        started, self._started = self._started, None
        if started is not None:
            await started.revoked.stop()
        self._hasher.close()
        if started is not None:
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
            )

    async def sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        with provider_call(self.name, "sign_in"):
            return await self._sign_in(credentials, context)

    async def _sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        parts = self._parts
        stored = await parts.users.find_by_email(credentials.email)
        if stored is None:
            # Same work as a wrong password, so response time does not reveal the account.
            await self._hasher.verify_dummy(credentials.password)
            raise InvalidCredentials()
        result = await self._hasher.verify(credentials.password, stored.password_hash)
        if not result.valid:
            raise InvalidCredentials()
        refresh_token = secrets.token_urlsafe(32)
        now = _utc_now()
        session_id, user = await parts.sessions.start(
            user=stored.account,
            refresh_token=refresh_token,
            now=now,
            ip=context.ip,
            user_agent=context.user_agent,
            upgraded_password_hash=result.upgraded_hash,
        )
        return self._grant(user, session_id, refresh_token, now)

    # --- Sessions ----------------------------------------------------------------------------

    async def refresh(self, refresh_token: str, context: ClientContext) -> TokenGrant:
        with provider_call(self.name, "refresh"):
            parts = self._parts
            replacement = secrets.token_urlsafe(32)
            now = _utc_now()
            try:
                session_id, user = await parts.sessions.rotate(
                    presented=refresh_token, replacement=replacement, now=now
                )
            except RefreshTokenReused:
                # The store has ended the session; make this replica stop its tokens at once.
                await parts.revoked.poll()
                raise
            return self._grant(user, session_id, replacement, now)

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

    # --- every provider ----------------------------------------------------------------------

    async def verify_access_token(self, token: str) -> AccessClaims:
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
        except Exception as error:  # any driver failure means the same thing here
            raise ProviderUnavailable("The user database does not answer.") from error

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


def _utc_now() -> datetime:
    return datetime.now(UTC)
