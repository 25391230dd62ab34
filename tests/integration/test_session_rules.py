"""When a local session ends by itself: a banned user, a deleted user, a session past its
maximum lifetime or idle past the inactivity timeout. Each is checked at refresh (and bans at
login), and the ended session's access tokens are refused too, on every replica."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from auth_backend.errors import NotFound
from auth_backend.providers.local import LocalProvider
from auth_backend.store.schema import sessions, users
from tests.support.accounts import (
    PASSWORD,
    bearer,
    log_in,
    new_session,
    refresh,
    refused_within,
    sign_up,
    unique_email,
)
from tests.support.problems import assert_problem, status_and_code
from tests.support.services import make_settings, running_app


@pytest.fixture
async def local(database_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(make_settings(database_url=database_url)) as (app, client):
        yield app, client


def provider_of(app: FastAPI) -> LocalProvider:
    provider: LocalProvider = app.state.provider
    return provider


async def execute(app: FastAPI, statement: sa.Executable) -> None:
    """What an operator (or, later, the admin API) does to the store directly."""
    async with provider_of(app).database.engine.begin() as connection:
        await connection.execute(statement)


def user_id(tokens: dict[str, Any]) -> UUID:
    return UUID(tokens["user"]["id"])


def now() -> datetime:
    return datetime.now(UTC)


# --- bans ------------------------------------------------------------------------------------


async def test_a_banned_user_is_refused_only_after_the_right_password(
    local: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = local
    email = unique_email()
    tokens = await new_session(client, email)
    await execute(
        app,
        users.update()
        .where(users.c.id == user_id(tokens))
        .values(banned_until=now() + timedelta(hours=1)),
    )
    wrong = await log_in(client, email, "not the password at all")
    unknown = await log_in(client, unique_email(), "not the password at all")
    assert_problem(wrong, 401, "invalid_credentials")
    # To a guesser, a banned account looks like no account at all.
    assert {k: v for k, v in wrong.json().items() if k != "request_id"} == {
        k: v for k, v in unknown.json().items() if k != "request_id"
    }
    assert_problem(await log_in(client, email), 403, "user_banned")


async def test_a_ban_ends_the_session_at_its_next_refresh(
    local: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = local
    tokens = await new_session(client)
    banned_until = now() + timedelta(hours=1)
    await execute(
        app, users.update().where(users.c.id == user_id(tokens)).values(banned_until=banned_until)
    )
    assert_problem(await refresh(client, tokens["refresh_token"]), 403, "user_banned")
    # The session is over, not merely paused: its access token is refused at once, and its
    # refresh token stays dead after the ban lifts.
    assert status_and_code(await client.get("/me", headers=bearer(tokens))) == (
        401,
        "invalid_token",
    )
    await execute(
        app, users.update().where(users.c.id == user_id(tokens)).values(banned_until=None)
    )
    assert_problem(await refresh(client, tokens["refresh_token"]), 401, "invalid_refresh_token")
    assert (await log_in(client, tokens["user"]["email"])).status_code == 200


async def test_an_expired_ban_no_longer_refuses(local: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = local
    email = unique_email()
    tokens = await new_session(client, email)
    await execute(
        app,
        users.update()
        .where(users.c.id == user_id(tokens))
        .values(banned_until=now() - timedelta(seconds=1)),
    )
    assert (await log_in(client, email)).status_code == 200
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200


# --- lifetime and inactivity -----------------------------------------------------------------


def session_of(tokens: dict[str, Any]) -> sa.ColumnElement[bool]:
    return sessions.c.user_id == user_id(tokens)


async def test_a_session_older_than_its_maximum_lifetime_ends_at_refresh(
    local: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = local
    tokens = await new_session(client)
    born = now() - timedelta(days=31)  # SESSION_MAX_LIFETIME defaults to 30 days
    await execute(
        app,
        sessions.update().where(session_of(tokens)).values(created_at=born, refreshed_at=now()),
    )
    response = await refresh(client, tokens["refresh_token"])
    body = assert_problem(response, 401, "invalid_refresh_token")
    assert "expired" in body["detail"]
    assert status_and_code(await client.get("/me", headers=bearer(tokens))) == (
        401,
        "invalid_token",
    )


async def test_a_session_idle_past_the_inactivity_timeout_ends_at_refresh(
    local: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = local
    tokens = await new_session(client)
    # SESSION_INACTIVITY_TIMEOUT defaults to 7 days; the session is well within its lifetime.
    await execute(
        app,
        sessions.update()
        .where(session_of(tokens))
        .values(created_at=now() - timedelta(days=9), refreshed_at=now() - timedelta(days=8)),
    )
    assert_problem(await refresh(client, tokens["refresh_token"]), 401, "invalid_refresh_token")


async def test_a_session_in_use_within_both_limits_refreshes(
    local: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = local
    tokens = await new_session(client)
    await execute(
        app,
        sessions.update()
        .where(session_of(tokens))
        .values(created_at=now() - timedelta(days=29), refreshed_at=now() - timedelta(days=6)),
    )
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200


async def test_the_session_limits_are_settings(database_url: str) -> None:
    settings = make_settings(
        database_url=database_url, session_max_lifetime=600, session_inactivity_timeout=300
    )
    async with running_app(settings) as (app, client):
        tokens = await new_session(client)
        await execute(
            app,
            sessions.update()
            .where(session_of(tokens))
            .values(created_at=now() - timedelta(seconds=301)),
        )
        assert_problem(await refresh(client, tokens["refresh_token"]), 401, "invalid_refresh_token")


# --- deletion --------------------------------------------------------------------------------


async def test_deleting_a_user_ends_its_sessions_on_every_replica(database_url: str) -> None:
    settings = make_settings(database_url=database_url)
    async with AsyncExitStack() as stack:
        app, here = await stack.enter_async_context(running_app(settings))
        _other_app, there = await stack.enter_async_context(running_app(settings))
        email = unique_email()
        tokens = await new_session(here, email)
        assert (await there.get("/me", headers=bearer(tokens))).status_code == 200

        await provider_of(app).delete_user(user_id(tokens))

        assert status_and_code(await here.get("/me", headers=bearer(tokens))) == (
            401,
            "invalid_token",
        )
        assert await refused_within(there, tokens, seconds=4)
        assert_problem(await refresh(there, tokens["refresh_token"]), 401, "invalid_refresh_token")
        assert_problem(await log_in(there, email), 401, "invalid_credentials")
        # The address is free again, for a new account that shares nothing with the old one.
        again = await sign_up(there, email, PASSWORD)
        assert again.status_code == 201
        assert again.json()["id"] != tokens["user"]["id"]


async def test_deleting_an_unknown_user_is_not_found(
    local: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = local
    tokens = await new_session(client)
    await provider_of(app).delete_user(user_id(tokens))
    with pytest.raises(NotFound):
        await provider_of(app).delete_user(user_id(tokens))
