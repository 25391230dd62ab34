"""The keys that verify a Supabase project's access tokens, kept in memory.

Asymmetric keys come from the project's JWKS, cached and refetched when a token names a
`kid` we have not seen; refetches are rate-limited so that garbage tokens cannot turn into
a flood of requests to Supabase. The legacy HS256 secret is used only when configured.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, GuestProtocol, Key, OctKey, RSAKey

from auth_backend.errors import InvalidToken
from auth_backend.security.tokens import UnknownKeyId

logger = logging.getLogger(__name__)

# Supabase serves its JWKS with max-age=600 and its own client caches it as long.
JWKS_MAX_AGE_SECONDS = 600.0
# At most one refetch per this interval is caused by unknown kids.
MIN_REFETCH_INTERVAL_SECONDS = 30.0
# Each key type verifies exactly one algorithm: the token cannot choose another.
_ALGORITHM_FOR_KEY: dict[tuple[str, str | None], str] = {
    ("EC", "P-256"): "ES256",
    ("RSA", None): "RS256",
}

FetchJwks = Callable[[], Awaitable[dict[str, Any]]]


class SupabaseKeys:
    def __init__(self, fetch_jwks: FetchJwks, jwt_secret: str | None) -> None:
        self._fetch = fetch_jwks
        self._secret = OctKey.import_key(jwt_secret) if jwt_secret else None
        self._keys: dict[str, tuple[Key, str]] = {}
        self._public_jwks: dict[str, Any] = {"keys": []}
        self._fetched_at: float | None = None
        # Only refetches caused by unknown kids count against the limit, so a key rotated
        # just after start-up is still picked up at once.
        self._last_unknown_kid_refetch = -MIN_REFETCH_INTERVAL_SECONDS
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    @property
    def algorithms(self) -> tuple[str, ...]:
        allowed = tuple(sorted(set(_ALGORITHM_FOR_KEY.values())))
        return (*allowed, "HS256") if self._secret else allowed

    @property
    def loaded(self) -> bool:
        return self._fetched_at is not None

    def public_jwks(self) -> dict[str, Any]:
        return self._public_jwks

    def resolve(self, guest: GuestProtocol) -> Key:
        header = guest.headers()
        algorithm = header.get("alg")
        kid = header.get("kid")
        if algorithm == "HS256":
            # GoTrue falls back to its shared secret for HS256
            # (supabase/auth: internal/api/auth.go).
            if self._secret is None:
                raise InvalidToken("HS256 tokens are not accepted by this service.")
            return self._secret
        if not isinstance(kid, str):
            raise InvalidToken("The access token names no signing key.")
        entry = self._keys.get(kid)
        if entry is None:
            raise UnknownKeyId("The access token was signed with an unknown key.")
        key, key_algorithm = entry
        if algorithm != key_algorithm:
            raise InvalidToken("The access token's algorithm does not match its key.")
        return key

    async def refresh(self, *, force: bool = False) -> bool:
        """Refetch the JWKS, at most once per MIN_REFETCH_INTERVAL_SECONDS unless forced.

        Returns True when a fetch happened and succeeded."""
        async with self._lock:
            if not force:
                now = time.monotonic()
                if now - self._last_unknown_kid_refetch < MIN_REFETCH_INTERVAL_SECONDS:
                    return False
                self._last_unknown_kid_refetch = now
            jwks = await self._fetch()
            self._install(jwks)
            self._fetched_at = time.monotonic()
            return True

    def refresh_in_background_if_stale(self) -> None:
        fetched_at = self._fetched_at
        stale = fetched_at is None or time.monotonic() - fetched_at > JWKS_MAX_AGE_SECONDS
        if stale and (self._background is None or self._background.done()):
            self._background = asyncio.create_task(self._refresh_quietly())

    async def aclose(self) -> None:
        if self._background is not None:
            self._background.cancel()

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh(force=True)
        except Exception as error:  # a stale key set is better than none; retry later
            logger.warning("could not refresh Supabase's JWKS: %s", type(error).__name__)

    def _install(self, jwks: dict[str, Any]) -> None:
        keys: dict[str, tuple[Key, str]] = {}
        public: list[dict[str, Any]] = []
        for jwk in jwks.get("keys", []):
            if not isinstance(jwk, dict):
                continue
            algorithm = _ALGORITHM_FOR_KEY.get((jwk.get("kty", ""), jwk.get("crv")))
            kid = jwk.get("kid")
            if (
                algorithm is None
                or not isinstance(kid, str)
                or jwk.get("alg", algorithm) != algorithm
            ):
                continue  # a key type we do not accept is simply not usable
            try:
                key: Key = ECKey.import_key(jwk) if jwk["kty"] == "EC" else RSAKey.import_key(jwk)
            except (JoseError, ValueError, TypeError, KeyError):
                logger.warning("ignoring a malformed key in Supabase's JWKS (kid=%s)", kid)
                continue
            if key.is_private:
                continue  # never republish private material, whatever upstream sends
            keys[kid] = (key, algorithm)
            public.append(key.as_dict(private=False))
        self._keys = keys
        self._public_jwks = {"keys": public}
