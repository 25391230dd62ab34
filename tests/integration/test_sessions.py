"""Refresh and logout: rotation, reuse detection, revocation, on both providers."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from auth_backend.domain import Capability
from auth_backend.providers.local import LocalProvider
from auth_backend.store.schema import refresh_tokens
from tests.support.accounts import bearer, new_session, refresh, refused_within, unique_email
from tests.support.problems import status_and_code
from tests.support.services import make_settings, running_app, supabase_settings

# --- both providers --------------------------------------------------------------------------


@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_refresh_rotates_the_pair(service: httpx.AsyncClient) -> None:
    first = await new_session(service)
    response = await refresh(service, first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"]["id"] == first["user"]["id"]
    assert (await service.get("/me", headers=bearer(second))).status_code == 200


@pytest.mark.parametrize("token", ["not-a-token", "x" * 1024, "aaaaaaaaaaaa"])
@pytest.mark.requires_capability(Capability.SESSIONS)
async def test_unknown_refresh_tokens_are_401(service: httpx.AsyncClient, token: str) -> None:
    assert status_and_code(await refresh(service, token)) == (401, "invalid_refresh_token")


@pytest.mark.parametrize(
    "body", [{}, {"refresh_token": ""}, {"refresh_token": 5}, {"refresh_token": "x" * 1025}]
)
@pytest.mark.requires_capability(Capability.SESSIONS)
async def test_malformed_refresh_requests_are_400(
    service: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await service.post("/refresh", json=body)
    assert status_and_code(response) == (400, "validation_failed")
    assert response.json()["errors"][0]["field"] == "body.refresh_token"


@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_reusing_an_old_refresh_token_ends_the_session(service: httpx.AsyncClient) -> None:
    # rt1 -> rt2 -> rt3, then rt1 again: both providers detect that (Supabase tolerates only
    # the parent of the active token).
    rt1 = (await new_session(service))["refresh_token"]
    rt2 = (await refresh(service, rt1)).json()["refresh_token"]
    rt3 = (await refresh(service, rt2)).json()["refresh_token"]
    assert status_and_code(await refresh(service, rt1)) == (401, "invalid_refresh_token")
    # The legitimate holder is logged out too.
    assert status_and_code(await refresh(service, rt3)) == (401, "invalid_refresh_token")


@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_logout_ends_the_refresh_token(service: httpx.AsyncClient) -> None:
    tokens = await new_session(service)
    response = await service.post("/logout", headers=bearer(tokens))
    assert response.status_code == 204
    assert response.content == b""
    assert status_and_code(await refresh(service, tokens["refresh_token"])) == (
        401,
        "invalid_refresh_token",
    )


@pytest.mark.requires_capability(Capability.SESSIONS)
async def test_logout_needs_a_valid_token(service: httpx.AsyncClient) -> None:
    assert status_and_code(await service.post("/logout")) == (401, "invalid_token")
    response = await service.post("/logout", headers={"Authorization": "Bearer nope"})
    assert status_and_code(response) == (401, "invalid_token")


@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_logout_scope_is_validated(service: httpx.AsyncClient) -> None:
    tokens = await new_session(service)
    response = await service.post("/logout", params={"scope": "everything"}, headers=bearer(tokens))
    assert status_and_code(response) == (400, "validation_failed")
    assert response.json()["errors"][0]["field"] == "query.scope"
    # Nothing was ended.
    assert (await refresh(service, tokens["refresh_token"])).status_code == 200


@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_global_logout_ends_every_session(service: httpx.AsyncClient) -> None:
    email = unique_email()
    one, two = await new_session(service, email), await new_session(service, email)
    assert (
        await service.post("/logout", params={"scope": "global"}, headers=bearer(one))
    ).status_code == 204
    for tokens in (one, two):
        assert status_and_code(await refresh(service, tokens["refresh_token"])) == (
            401,
            "invalid_refresh_token",
        )


@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_logout_others_keeps_the_current_session(service: httpx.AsyncClient) -> None:
    email = unique_email()
    mine, other = await new_session(service, email), await new_session(service, email)
    assert (
        await service.post("/logout", params={"scope": "others"}, headers=bearer(mine))
    ).status_code == 204
    assert status_and_code(await refresh(service, other["refresh_token"])) == (
        401,
        "invalid_refresh_token",
    )
    assert (await refresh(service, mine["refresh_token"])).status_code == 200


# --- local provider: access tokens die with their session ---------------------------------------


@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_after_logout_me_refuses_that_sessions_access_tokens(
    local_service: httpx.AsyncClient,
) -> None:
    email = unique_email()
    ended, kept = await new_session(local_service, email), await new_session(local_service, email)
    assert (await local_service.post("/logout", headers=bearer(ended))).status_code == 204
    response = await local_service.get("/me", headers=bearer(ended))
    assert status_and_code(response) == (401, "invalid_token")
    assert (await local_service.get("/me", headers=bearer(kept))).status_code == 200
    # Logging out twice is a 401: the token's session is gone.
    assert status_and_code(await local_service.post("/logout", headers=bearer(ended))) == (
        401,
        "invalid_token",
    )


@pytest.mark.requires_capability(Capability.ACCOUNTS, Capability.SESSIONS)
async def test_reusing_the_previous_refresh_token_revokes_the_attacker_and_the_victim(
    local_service: httpx.AsyncClient,
) -> None:
    stolen = await new_session(local_service)
    victim = (await refresh(local_service, stolen["refresh_token"])).json()
    assert status_and_code(await refresh(local_service, stolen["refresh_token"])) == (
        401,
        "invalid_refresh_token",
    )
    assert status_and_code(await refresh(local_service, victim["refresh_token"])) == (
        401,
        "invalid_refresh_token",
    )
    assert status_and_code(await local_service.get("/me", headers=bearer(victim))) == (
        401,
        "invalid_token",
    )


async def test_concurrent_refreshes_of_one_token_let_exactly_one_through(database_url: str) -> None:
    # Without a reuse interval; test_refresh_reuse_interval.py has the default's behaviour.
    settings = make_settings(database_url=database_url, refresh_token_reuse_interval=0)
    async with running_app(settings) as (_app, client):
        tokens = await new_session(client)
        responses = await asyncio.gather(
            *(refresh(client, tokens["refresh_token"]) for _ in range(4))
        )
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401]


async def test_refresh_tokens_are_stored_only_as_hashes(database_url: str) -> None:
    async with running_app(make_settings(database_url=database_url)) as (app, client):
        tokens = await new_session(client)
        rotated = (await refresh(client, tokens["refresh_token"])).json()
        provider: LocalProvider = app.state.provider
        async with provider.database.engine.connect() as connection:
            stored = [
                row.token_hash
                for row in await connection.execute(sa.select(refresh_tokens.c.token_hash))
            ]
    assert len(stored) == 2
    assert tokens["refresh_token"] not in stored and rotated["refresh_token"] not in stored
    assert all(len(value) == 64 for value in stored)


async def test_a_logout_on_one_replica_reaches_the_others(database_url: str) -> None:
    settings = make_settings(database_url=database_url)
    async with AsyncExitStack() as stack:
        (_a, replica_a), (_b, replica_b) = await asyncio.gather(
            stack.enter_async_context(running_app(settings)),
            stack.enter_async_context(running_app(settings)),
        )
        tokens = await new_session(replica_a)
        assert (await replica_b.get("/me", headers=bearer(tokens))).status_code == 200
        assert (await replica_a.post("/logout", headers=bearer(tokens))).status_code == 204
        # Replica B polls ended sessions every second.
        assert await refused_within(replica_b, tokens, seconds=4), (
            "replica B still accepts a logged-out session's token after 4 s"
        )


async def test_ended_sessions_stay_ended_after_a_restart(database_url: str) -> None:
    settings = make_settings(database_url=database_url)
    async with running_app(settings) as (_app, client):
        tokens = await new_session(client)
        assert (await client.post("/logout", headers=bearer(tokens))).status_code == 204
    async with running_app(settings) as (_app, client):
        assert status_and_code(await client.get("/me", headers=bearer(tokens))) == (
            401,
            "invalid_token",
        )


# --- Supabase: what logout guarantees there ------------------------------------------------------


async def test_supabase_access_tokens_outlive_logout_until_they_expire(
    supabase_double: Any,
) -> None:
    # Documented in the README: tokens are verified locally, as Supabase's own clients do.
    async with running_app(supabase_settings(supabase_double)) as (_app, client):
        tokens = await new_session(client)
        assert (await client.post("/logout", headers=bearer(tokens))).status_code == 204
        assert (await client.get("/me", headers=bearer(tokens))).status_code == 200
        assert status_and_code(await refresh(client, tokens["refresh_token"])) == (
            401,
            "invalid_refresh_token",
        )
        # Supabase itself no longer knows the session: a second logout is refused.
        assert status_and_code(await client.post("/logout", headers=bearer(tokens))) == (
            401,
            "invalid_token",
        )
    headers = supabase_double.stats()["last_headers"]["/auth/v1/logout"]
    assert headers["authorization"] == f"Bearer {tokens['access_token']}"
    assert supabase_double.service_key not in str(headers)
