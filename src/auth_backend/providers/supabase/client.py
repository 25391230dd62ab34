"""Supabase Auth over HTTP: one pooled aiohttp session, every call with exactly the key it
needs, error answers mapped onto our problems (errors.py).

Direct HTTP rather than the `supabase` package: its clients keep a signed-in session that
replaces the service key in their own headers, which is wrong for a server handling many
users at once. Here nothing is remembered between calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError
from yarl import URL

from auth_backend.errors import ProviderError, ProviderUnavailable, ServiceError
from auth_backend.observability import provider_call
from auth_backend.providers.supabase.errors import UpstreamError, map_error, parse_error

logger = logging.getLogger(__name__)

PROVIDER_NAME = "supabase"
# Errors arrive as {code: <string>, message} with this header; the legacy shape is parsed as
# well, for proxies that strip the header.
API_VERSION = "2024-01-01"
CONNECT_TIMEOUT_SECONDS = 3.0
# Connections to Supabase kept and used at once. Every login is one short request, so a few
# kept-alive connections carry a busy replica's logins; letting the pool open one per
# concurrent caller (and drop the extras after) costs a TCP (and TLS) handshake per burst
# and, at Supabase's end, connections that count against its limits. Callers beyond this
# wait for a free connection, within the same timeout as the call itself.
MAX_CONNECTIONS = 4

_ModelT = TypeVar("_ModelT", bound=BaseModel)
ErrorOverrides = dict[str, Callable[[UpstreamError], ServiceError]]


class SupabaseClient:
    def __init__(
        self, *, project_url: str, service_key: str, anon_key: str | None, timeout_seconds: float
    ) -> None:
        self.auth_url = URL(f"{project_url.rstrip('/')}/auth/v1")
        self.admin_headers = {"apikey": service_key, "Authorization": f"Bearer {service_key}"}
        # The anon key alone on user calls: the gateway derives Authorization from it.
        self.anon_key = anon_key or service_key
        # total bounds the whole call: waiting for a pooled connection, connecting, sending
        # and reading the answer.
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds)
        )
        self._session: aiohttp.ClientSession | None = None

    def open(self) -> None:
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

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self,
        method: str,
        url: URL,
        operation: str,
        *,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        overrides: ErrorOverrides | None = None,
    ) -> bytes:
        """One call to Supabase Auth, counted in the provider-call metrics by outcome.

        Returns the body of a successful answer; error answers become our problems."""
        with provider_call(PROVIDER_NAME, operation):
            if self._session is None:
                raise RuntimeError("SupabaseClient.open() has not run")
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


def parse_answer(model: type[_ModelT], answer: bytes, operation: str) -> _ModelT:
    """A successful answer as `model`, parsed and validated in one pass from the bytes;
    ProviderError when Supabase answered something else."""
    try:
        return model.model_validate_json(answer)
    except ValidationError as error:
        if any(e["type"] == "json_invalid" for e in error.errors()):
            logger.warning("Supabase answered %s with a non-JSON body", operation)
        else:
            logger.warning("Supabase's answer to %s does not have the expected shape", operation)
        raise ProviderError() from None
