"""The Supabase identity provider: Supabase Auth over HTTP, tokens verified locally.

Direct HTTP on one pooled client rather than the `supabase` package: its clients keep a
signed-in session that replaces the service key in their own headers (reference section 8.3),
which is wrong for a server handling many users at once. Here every call carries exactly the
key it needs, and nothing is remembered between calls.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError
from yarl import URL

from auth_backend.domain import (
    AccessClaims,
    ClientContext,
    Credentials,
    LogoutScope,
    NewAccount,
    TokenGrant,
    UserAccount,
)
from auth_backend.errors import InvalidCredentials, ProviderError, ProviderUnavailable, ServiceError
from auth_backend.observability import provider_call
from auth_backend.providers.supabase_errors import (
    REFRESH_CALL,
    USER_TOKEN_CALL,
    UpstreamError,
    map_error,
    parse_error,
)
from auth_backend.providers.supabase_keys import SupabaseKeys
from auth_backend.security.passwords import MAX_PASSWORD_BYTES
from auth_backend.security.tokens import AccessTokenVerifier, UnknownKeyId

logger = logging.getLogger(__name__)

# Errors arrive as {code: <string>, message} with this header (reference section 2); the
# legacy shape is parsed as well, for proxies that strip the header.
API_VERSION = "2024-01-01"
CONNECT_TIMEOUT_SECONDS = 3.0
# Connections to Supabase kept and used at once. Every login is one short request, so a few
# kept-alive connections carry a busy replica's logins; letting the pool open one per
# concurrent caller (and drop the extras after) costs a TCP (and TLS) handshake per burst
# and, at Supabase's end, connections that count against its limits. Callers beyond this
# wait for a free connection, within the same timeout as the call itself.
MAX_CONNECTIONS = 4

_ModelT = TypeVar("_ModelT", bound=BaseModel)


class _SupabaseUser(BaseModel):
    """The fields of Supabase's User object that our contract carries."""

    model_config = ConfigDict(extra="ignore")
    id: UUID
    email: str | None = ""
    role: str | None = "authenticated"
    aud: str | None = "authenticated"
    email_confirmed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_sign_in_at: datetime | None = None
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None

    def to_account(self) -> UserAccount:
        return UserAccount(
            id=self.id,
            email=self.email or "",
            role=self.role or "authenticated",
            aud=self.aud or "authenticated",
            email_confirmed_at=self.email_confirmed_at,
            created_at=self.created_at,
            updated_at=self.updated_at,
            last_sign_in_at=self.last_sign_in_at,
            user_metadata=self.user_metadata or {},
            app_metadata=self.app_metadata or {},
        )


class _SupabaseSession(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: str
    expires_in: int
    expires_at: int | None = None
    refresh_token: str
    user: _SupabaseUser


class SupabaseProvider:
    name = "supabase"

    def __init__(
        self,
        *,
        project_url: str,
        service_key: str,
        anon_key: str | None,
        jwt_secret: str | None,
        issuer: str,
        auto_confirm: bool,
        client_ip_header: str,
        timeout_seconds: float,
    ) -> None:
        auth_url = URL(f"{project_url.rstrip('/')}/auth/v1")
        # Built once: every call names one of these, query included.
        self._admin_users_url = auth_url / "admin" / "users"
        self._password_grant_url = (auth_url / "token").with_query(grant_type="password")
        self._refresh_grant_url = (auth_url / "token").with_query(grant_type="refresh_token")
        self._logout_url = auth_url / "logout"
        self._health_url = auth_url / "health"
        self._jwks_url = auth_url / ".well-known" / "jwks.json"
        self._anon_key = anon_key or service_key
        self._admin_headers = {"apikey": service_key, "Authorization": f"Bearer {service_key}"}
        self._auto_confirm = auto_confirm
        self._client_ip_header = client_ip_header
        # total bounds the whole call: waiting for a pooled connection, connecting, sending
        # and reading the answer.
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds)
        )
        self._session: aiohttp.ClientSession | None = None
        self._keys = SupabaseKeys(self._fetch_jwks, jwt_secret)
        self._verifier = AccessTokenVerifier(issuer=issuer)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            # One pool for the life of the app: logins reuse a handful of kept-alive
            # connections, and callers beyond MAX_CONNECTIONS wait for one of them.
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0),
            timeout=self._timeout,
            headers={
                "X-Supabase-Api-Version": API_VERSION,
                "X-Client-Info": "auth-backend",
                "User-Agent": "auth-backend",
            },
            # Proxies and credentials come from the settings, never from the environment.
            trust_env=False,
            # Nothing is remembered between calls: a cookie set in one user's answer must
            # never ride along with another user's request.
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )
        try:
            await self._keys.refresh(force=True)
        except ServiceError as error:
            # Start anyway: Supabase may come back, and /ready reports it meanwhile.
            logger.warning("Supabase's JWKS is not available yet: %s", error.code)

    async def aclose(self) -> None:
        await self._keys.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- operations ----------------------------------------------------------------------

    async def sign_up(self, account: NewAccount, context: ClientContext) -> UserAccount:
        body = {
            "email": account.email,
            "password": account.password,
            "email_confirm": self._auto_confirm,
            "user_metadata": account.user_metadata,
        }
        answer = await self._call(
            "POST",
            self._admin_users_url,
            "admin_create_user",
            body=body,
            headers=self._admin_headers,
        )
        return self._parse(_SupabaseUser, answer, "admin_create_user").to_account()

    async def sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        if len(credentials.password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            # No account can have such a password, and bcrypt on Supabase's side cannot
            # compare it; answer as for any wrong password.
            raise InvalidCredentials()
        answer = await self._call(
            "POST",
            self._password_grant_url,
            "password_grant",
            body={"email": credentials.email, "password": credentials.password},
            headers=self._user_headers(context),
        )
        return self._grant(self._parse(_SupabaseSession, answer, "password_grant"))

    @staticmethod
    def _grant(session: _SupabaseSession) -> TokenGrant:
        return TokenGrant(
            access_token=session.access_token,
            expires_in=session.expires_in,
            expires_at=session.expires_at or int(time.time()) + session.expires_in,
            refresh_token=session.refresh_token,
            user=session.user.to_account(),
        )

    async def refresh(self, refresh_token: str, context: ClientContext) -> TokenGrant:
        answer = await self._call(
            "POST",
            self._refresh_grant_url,
            "refresh_token_grant",
            body={"refresh_token": refresh_token},
            headers=self._user_headers(context),
            overrides=REFRESH_CALL,
        )
        return self._grant(self._parse(_SupabaseSession, answer, "refresh_token_grant"))

    async def sign_out(
        self, access_token: str, claims: AccessClaims, scope: LogoutScope, context: ClientContext
    ) -> None:
        # Supabase identifies the session from the user's own token (reference 3.4).
        headers = {**self._user_headers(context), "Authorization": f"Bearer {access_token}"}
        await self._call(
            "POST",
            self._logout_url.with_query(scope=scope),
            "logout",
            headers=headers,
            overrides=USER_TOKEN_CALL,
        )

    async def verify_access_token(self, token: str) -> AccessClaims:
        self._keys.refresh_in_background_if_stale()
        algorithms = self._keys.algorithms
        try:
            return self._verifier.verify(token, self._keys.resolve, algorithms)
        except UnknownKeyId:
            if not await self._refresh_keys_for_unknown_kid():
                raise
        return self._verifier.verify(token, self._keys.resolve, algorithms)

    async def public_keys(self) -> dict[str, Any]:
        if not self._keys.loaded:
            await self._refresh_keys_for_unknown_kid()
        return self._keys.public_jwks()

    async def check_ready(self) -> None:
        # /health sits behind the gateway's key check, so this proves both reachability
        # and that the service key is accepted.
        await self._call("GET", self._health_url, "health", headers=self._admin_headers)

    # --- HTTP ------------------------------------------------------------------------------

    def _user_headers(self, context: ClientContext) -> dict[str, str]:
        # The anon key alone: the gateway derives Authorization from it (reference 8.3).
        headers = {"apikey": self._anon_key}
        if self._client_ip_header and context.ip:
            headers[self._client_ip_header] = context.ip
        return headers

    async def _fetch_jwks(self) -> dict[str, Any]:
        answer = await self._call("GET", self._jwks_url, "jwks")
        try:
            data = json.loads(answer)
        except ValueError:
            logger.warning("Supabase answered jwks with a non-JSON body")
            raise ProviderError() from None
        if not isinstance(data, dict):
            logger.warning("Supabase's answer to jwks does not have the expected shape")
            raise ProviderError()
        return data

    async def _refresh_keys_for_unknown_kid(self) -> bool:
        try:
            return await self._keys.refresh()
        except ServiceError:
            if self._keys.loaded:
                return False  # keep verifying with the keys we have
            raise

    async def _call(
        self,
        method: str,
        url: URL,
        operation: str,
        *,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        overrides: dict[str, Callable[[UpstreamError], ServiceError]] | None = None,
    ) -> bytes:
        """One call to Supabase Auth, counted in the provider-call metrics by outcome.

        Returns the body of a successful answer; error answers become our problems."""
        with provider_call(self.name, operation):
            if self._session is None:
                raise RuntimeError("SupabaseProvider.start() has not run")
            try:
                async with self._session.request(
                    method, url, headers=headers, json=body, allow_redirects=False
                ) as response:
                    # Read inside the timeout: a body that stalls is a timeout too.
                    answer = await response.read()
                    status = response.status
                    response_headers = response.headers
            except TimeoutError:
                logger.warning("Supabase timed out on %s", operation)
                raise ProviderUnavailable("The identity provider did not answer in time.") from None
            except aiohttp.ClientError as error:
                logger.warning("Supabase unreachable on %s: %s", operation, type(error).__name__)
                raise ProviderUnavailable() from None
            if status >= 400:
                raise map_error(parse_error(status, response_headers, answer), operation, overrides)
            return answer

    @staticmethod
    def _parse(model: type[_ModelT], answer: bytes, operation: str) -> _ModelT:
        # Parsed and validated in one pass, straight from the bytes.
        try:
            return model.model_validate_json(answer)
        except ValidationError as error:
            if any(e["type"] == "json_invalid" for e in error.errors()):
                logger.warning("Supabase answered %s with a non-JSON body", operation)
            else:
                logger.warning(
                    "Supabase's answer to %s does not have the expected shape", operation
                )
            raise ProviderError() from None
