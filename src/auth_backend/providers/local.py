"""The embedded identity provider: users in our own database, tokens signed with our own keys."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from joserfc.jwk import ECKey, Key

from auth_backend.domain import (
    AccessClaims,
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
from auth_backend.providers.database import open_database
from auth_backend.providers.revocations import RevokedSessions
from auth_backend.providers.store import Store, migrate
from auth_backend.security.passwords import DEFAULT_ARGON2_MEMORY_MIB, PasswordHasher
from auth_backend.security.token_cache import VerifiedTokenCache
from auth_backend.security.tokens import (
    CLOCK_LEEWAY_SECONDS,
    LOCAL_SIGNING_ALGORITHM,
    AccessTokenIssuer,
    AccessTokenVerifier,
    UnknownKeyId,
    generate_signing_key,
    public_jwk,
    resolver_for,
)

logger = logging.getLogger(__name__)

# A token with an unknown kid makes us re-read the keys (another replica may have added
# one), but at most this often, so that forged kids cannot turn into database load.
KEY_RELOAD_INTERVAL_SECONDS = 10.0


class LocalProvider:
    name = "local"

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
        self._store: Store | None = None
        self._token_issuer: AccessTokenIssuer | None = None
        self._keys: dict[str, Key] = {}
        self._resolve = resolver_for(self._keys)
        self._keys_loaded_at = 0.0
        self._revoked: RevokedSessions | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("LocalProvider.start() has not run")
        return self._store

    async def start(self) -> None:
        database = open_database(self._database_url)
        self._store = Store(database)
        await migrate(database)
        await self._load_or_create_keys()
        self._revoked = RevokedSessions(
            self._store.sessions_revoked_since, self._ttl + CLOCK_LEEWAY_SECONDS
        )
        await self._revoked.start()
        await self._hasher.warm_up()

    async def aclose(self) -> None:
        if self._revoked is not None:
            await self._revoked.stop()
        self._hasher.close()
        if self._store is not None:
            await self._store.aclose()

    async def sign_up(self, account: NewAccount, context: ClientContext) -> UserAccount:
        with provider_call(self.name, "sign_up"):
            password_hash = await self._hasher.hash(account.password)
            return await self.store.create_user(
                email=account.email,
                password_hash=password_hash,
                user_metadata=account.user_metadata,
                now=_utc_now(),
            )

    async def sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        with provider_call(self.name, "sign_in"):
            return await self._sign_in(credentials, context)

    async def _sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        stored = await self.store.find_user_by_email(credentials.email)
        if stored is None:
            # Same work as a wrong password, so response time does not reveal the account.
            await self._hasher.verify_dummy(credentials.password)
            raise InvalidCredentials()
        result = await self._hasher.verify(credentials.password, stored.password_hash)
        if not result.valid:
            raise InvalidCredentials()
        refresh_token = secrets.token_urlsafe(32)
        now = _utc_now()
        session_id, user = await self.store.start_session(
            user=stored.account,
            refresh_token=refresh_token,
            now=now,
            ip=context.ip,
            user_agent=context.user_agent,
            upgraded_password_hash=result.upgraded_hash,
        )
        return self._grant(user, session_id, refresh_token, now)

    async def refresh(self, refresh_token: str, context: ClientContext) -> TokenGrant:
        with provider_call(self.name, "refresh"):
            replacement = secrets.token_urlsafe(32)
            now = _utc_now()
            try:
                session_id, user = await self.store.rotate_refresh_token(
                    presented=refresh_token, replacement=replacement, now=now
                )
            except RefreshTokenReused:
                # The store has ended the session; make this replica stop its tokens at once.
                await self._revocations.poll()
                raise
            return self._grant(user, session_id, replacement, now)

    async def sign_out(
        self, access_token: str, claims: AccessClaims, scope: LogoutScope, context: ClientContext
    ) -> None:
        with provider_call(self.name, "sign_out"):
            if claims.session_id is None:
                raise InvalidToken("The access token carries no session.")
            ended = await self.store.end_sessions(
                user_id=claims.subject,
                current_session=UUID(claims.session_id),
                scope=scope,
                now=_utc_now(),
            )
            self._revocations.add(ended)

    async def verify_access_token(self, token: str) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = await self._verify_signature_and_claims(token)
            self._verified.put(token, claims)
        # Checked on every call, cached or not: a logout takes effect at once.
        if claims.session_id in self._revocations:
            raise InvalidToken("The session of this access token has ended.")
        return claims

    async def _verify_signature_and_claims(self, token: str) -> AccessClaims:
        try:
            return self._verifier.verify(token, self._resolve, (LOCAL_SIGNING_ALGORITHM,))
        except UnknownKeyId:
            if not await self._reload_keys_if_due():
                raise
            return self._verifier.verify(token, self._resolve, (LOCAL_SIGNING_ALGORITHM,))

    async def public_keys(self) -> dict[str, Any]:
        return {"keys": [public_jwk(key) for key in self._keys.values()]}

    async def check_ready(self) -> None:
        try:
            await self.store.ping()
        except Exception as error:  # any driver failure means the same thing here
            raise ProviderUnavailable("The user database does not answer.") from error

    def _grant(
        self, user: UserAccount, session_id: UUID, refresh_token: str, now: datetime
    ) -> TokenGrant:
        issued = self._issuer.issue(user, session_id, int(now.timestamp()))
        return TokenGrant(
            access_token=issued.token,
            expires_in=issued.expires_at - issued.issued_at,
            expires_at=issued.expires_at,
            refresh_token=refresh_token,
            user=user,
        )

    @property
    def _revocations(self) -> RevokedSessions:
        if self._revoked is None:
            raise RuntimeError("LocalProvider.start() has not run")
        return self._revoked

    @property
    def _issuer(self) -> AccessTokenIssuer:
        if self._token_issuer is None:
            raise RuntimeError("LocalProvider.start() has not run")
        return self._token_issuer

    async def _load_or_create_keys(self) -> None:
        stored = await self.store.signing_keys()
        if not stored:
            key = generate_signing_key()
            await self.store.add_signing_key(
                kid=key.kid or "",
                algorithm=LOCAL_SIGNING_ALGORITHM,
                private_jwk=key.as_dict(private=True),
                public_jwk=public_jwk(key),
                now=_utc_now(),
                only_if_none=True,
            )
            # Re-read rather than use our key: a replica starting at the same moment may have
            # stored the first key instead, and every replica must use that one.
            stored = await self.store.signing_keys()
            if any(row.kid == key.kid for row in stored):
                logger.info("generated a new token signing key", extra={"kid": key.kid})
        self._install_keys([ECKey.import_key(row.private_jwk) for row in stored])

    def _install_keys(self, keys: list[ECKey]) -> None:
        # A cached verification is only as good as the key that made it.
        self._verified.clear()
        self._keys.clear()
        self._keys.update({key.kid or "": key for key in keys})
        self._token_issuer = AccessTokenIssuer(keys[0], self._issuer_name, self._ttl)
        self._keys_loaded_at = time.monotonic()

    async def _reload_keys_if_due(self) -> bool:
        if time.monotonic() - self._keys_loaded_at < KEY_RELOAD_INTERVAL_SECONDS:
            return False
        stored = await self.store.signing_keys()
        before = set(self._keys)
        self._install_keys([ECKey.import_key(row.private_jwk) for row in stored])
        return set(self._keys) != before


def _utc_now() -> datetime:
    return datetime.now(UTC)
