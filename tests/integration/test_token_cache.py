"""The local provider's cache of verified tokens never outlives a logout, a token's `exp`
or its signing key, and holds only tokens that passed full verification."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from auth_backend.domain import Capability
from auth_backend.providers.local import LocalProvider
from tests.support.accounts import bearer, new_session, refresh, refused_within, unique_email
from tests.support.problems import status_and_code
from tests.support.services import make_settings, running_app


def cached(provider: LocalProvider, tokens: dict[str, Any]) -> bool:
    return provider._verified.get(tokens["access_token"]) is not None


async def me_twice(client: httpx.AsyncClient, tokens: dict[str, Any]) -> None:
    # The first call verifies and caches; the second is answered from the cache.
    for _ in range(2):
        assert (await client.get("/me", headers=bearer(tokens))).status_code == 200


@pytest.fixture
async def local(
    request: pytest.FixtureRequest, database_url: str
) -> AsyncIterator[tuple[LocalProvider, httpx.AsyncClient]]:
    # Reuse detection at once (no reuse interval), as in the behavioural suite.
    settings = make_settings(database_url=database_url, refresh_token_reuse_interval=0)
    async with running_app(settings, request=request) as (app, client):
        yield app.state.provider, client


@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_a_cached_token_is_refused_as_soon_as_its_session_is_logged_out(local: Any) -> None:
    provider, client = local
    tokens = await new_session(client)
    await me_twice(client, tokens)
    assert cached(provider, tokens)
    assert (await client.post("/logout", headers=bearer(tokens))).status_code == 204
    response = await client.get("/me", headers=bearer(tokens))
    assert status_and_code(response) == (401, "invalid_token")


@pytest.mark.parametrize("scope", ["global", "others"])
@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_logout_scopes_reach_cached_tokens_of_other_sessions(local: Any, scope: str) -> None:
    provider, client = local
    email = unique_email()
    current, other = await new_session(client, email), await new_session(client, email)
    await me_twice(client, other)
    assert cached(provider, other)
    logout = await client.post(f"/logout?scope={scope}", headers=bearer(current))
    assert logout.status_code == 204
    assert (await client.get("/me", headers=bearer(other))).status_code == 401


@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_refresh_token_reuse_refuses_the_cached_tokens_of_the_session(local: Any) -> None:
    provider, client = local
    stolen = await new_session(client)
    victim = (await refresh(client, stolen["refresh_token"])).json()
    await me_twice(client, victim)
    assert cached(provider, victim)
    reuse = await refresh(client, stolen["refresh_token"])
    assert reuse.status_code == 401
    assert (await client.get("/me", headers=bearer(victim))).status_code == 401


async def test_a_logout_on_another_replica_reaches_a_cached_token(database_url: str) -> None:
    settings = make_settings(database_url=database_url)
    async with AsyncExitStack() as stack:
        (_a, replica_a), (app_b, replica_b) = await asyncio.gather(
            stack.enter_async_context(running_app(settings)),
            stack.enter_async_context(running_app(settings)),
        )
        tokens = await new_session(replica_a)
        await me_twice(replica_b, tokens)
        assert cached(app_b.state.provider, tokens)
        assert (await replica_a.post("/logout", headers=bearer(tokens))).status_code == 204
        # Replica B polls ended sessions every second.
        assert await refused_within(replica_b, tokens, seconds=4), (
            "replica B still accepts a logged-out, cached token after 4 s"
        )


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_a_cached_token_stops_at_its_exp(local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    provider, client = local
    tokens = await new_session(client)
    await me_twice(client, tokens)
    assert cached(provider, tokens)
    exp = int(time.time()) + int(tokens["expires_in"])
    real_time = time.time

    # From exp on the cache no longer answers, and within the leeway full verification still
    # accepts the token, exactly as it would with no cache at all.
    monkeypatch.setattr(time, "time", lambda: exp + 5.0)
    assert (await client.get("/me", headers=bearer(tokens))).status_code == 200
    assert not cached(provider, tokens)

    # Past the leeway the token is expired, cached before or not.
    monkeypatch.setattr(time, "time", lambda: exp + 31.0)
    response = await client.get("/me", headers=bearer(tokens))
    assert status_and_code(response) == (401, "invalid_token")
    assert "expired" in response.json()["detail"]
    monkeypatch.setattr(time, "time", real_time)


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_only_tokens_that_pass_full_verification_are_cached(local: Any) -> None:
    provider, client = local
    tokens = await new_session(client)
    header, payload, signature = tokens["access_token"].split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    for bad in (forged, "not-a-jwt", f"{header}.{payload}."):
        response = await client.get("/me", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401
    assert len(provider._verified) == 0


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_replacing_the_signing_keys_empties_the_cache(local: Any) -> None:
    provider, client = local
    tokens = await new_session(client)
    await me_twice(client, tokens)
    assert cached(provider, tokens)
    await provider.keys.load_or_create()
    assert len(provider._verified) == 0
    # The same keys are back, so the token verifies in full again and is cached anew.
    await me_twice(client, tokens)
    assert cached(provider, tokens)
