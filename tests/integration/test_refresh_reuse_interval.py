"""A client that refreshes twice with the same token (a retry after a lost answer, two tabs
racing) is not logged out: within the reuse interval the second presentation gets a token of
the same session. After the interval, presenting a used token is reuse and ends the session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from doubles.supabase import SupabaseDouble
from tests.support.accounts import bearer, new_session, refresh
from tests.support.problems import assert_problem
from tests.support.services import make_settings, running_app, supabase_settings

CONCURRENT_REFRESHES = 8


@pytest.fixture(params=["local", "supabase"])
async def client(
    request: pytest.FixtureRequest, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The service with a 10 s reuse interval (our default; Supabase's CLI projects use 10 s)."""
    if request.param == "supabase":
        double: SupabaseDouble = request.getfixturevalue("supabase_double")
        double.configure(refresh_token_reuse_interval=10)
        settings = supabase_settings(double)
    else:
        settings = make_settings(database_url=database_url, refresh_token_reuse_interval=10)
    async with running_app(settings) as (_app, http):
        yield http


async def test_concurrent_refreshes_of_one_token_all_keep_the_session(
    client: httpx.AsyncClient,
) -> None:
    tokens = await new_session(client)
    answers = await asyncio.gather(
        *(refresh(client, tokens["refresh_token"]) for _ in range(CONCURRENT_REFRESHES))
    )
    assert [answer.status_code for answer in answers] == [200] * CONCURRENT_REFRESHES
    # Whichever answer the client kept, its tokens work: the access token now, the refresh
    # token once more.
    for answer in answers:
        grant = answer.json()
        assert (await client.get("/me", headers=bearer(grant))).status_code == 200
    last = answers[-1].json()
    assert (await refresh(client, last["refresh_token"])).status_code == 200


async def test_a_sequential_retry_within_the_interval_keeps_the_session(
    client: httpx.AsyncClient,
) -> None:
    tokens = await new_session(client)
    first = await refresh(client, tokens["refresh_token"])
    retry = await refresh(client, tokens["refresh_token"])
    assert first.status_code == retry.status_code == 200
    assert (await client.get("/me", headers=bearer(first.json()))).status_code == 200
    assert (await refresh(client, retry.json()["refresh_token"])).status_code == 200


async def test_reuse_after_the_interval_ends_the_session(database_url: str) -> None:
    settings = make_settings(database_url=database_url, refresh_token_reuse_interval=1)
    async with running_app(settings) as (_app, client):
        tokens = await new_session(client)
        rotated = (await refresh(client, tokens["refresh_token"])).json()
        await asyncio.sleep(1.5)
        assert_problem(await refresh(client, tokens["refresh_token"]), 401, "invalid_refresh_token")
        # Replay detected: the legitimate holder's tokens are ended too.
        assert_problem(
            await refresh(client, rotated["refresh_token"]), 401, "invalid_refresh_token"
        )
        assert (await client.get("/me", headers=bearer(rotated))).status_code == 401


async def test_a_token_ended_by_logout_is_not_revived_by_the_interval(database_url: str) -> None:
    settings = make_settings(database_url=database_url, refresh_token_reuse_interval=10)
    async with running_app(settings) as (_app, client):
        tokens = await new_session(client)
        rotated = (await refresh(client, tokens["refresh_token"])).json()
        assert (await client.post("/logout", headers=bearer(rotated))).status_code == 204
        assert_problem(await refresh(client, tokens["refresh_token"]), 401, "invalid_refresh_token")
        assert_problem(
            await refresh(client, rotated["refresh_token"]), 401, "invalid_refresh_token"
        )
