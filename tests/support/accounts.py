"""Accounts and sessions over HTTP: one password, unique addresses, sign-up and login, the
token pair of a new session, a refresh, the bearer header of a token pair, and waiting for a
replica to refuse an ended session."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

# The one password of the tests' accounts: long enough for every policy, not a common one.
PASSWORD = "correct horse battery"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


async def sign_up(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: Any
) -> httpx.Response:
    """POST /signup with a JSON body; `extra` adds members (e.g. user_metadata)."""
    return await client.post("/signup", json={"email": email, "password": password, **extra})


async def log_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    """POST /login with a JSON body; `headers` are sent with it."""
    return await client.post("/login", json={"email": email, "password": password}, headers=headers)


async def signed_up(client: httpx.AsyncClient, email: str | None = None) -> str:
    """A new account (201 asserted); its address."""
    email = email or unique_email()
    response = await sign_up(client, email)
    assert response.status_code == 201, response.text
    return email


async def token_for(client: httpx.AsyncClient, email: str) -> str:
    """Sign up (201 asserted) and log in (200 asserted); the access token."""
    assert (await sign_up(client, email)).status_code == 201
    response = await log_in(client, email)
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


async def new_session(client: httpx.AsyncClient, email: str | None = None) -> dict[str, Any]:
    """Sign up (unless the account exists) and log in; the token pair of the new session."""
    email = email or unique_email()
    signup = await sign_up(client, email)
    assert signup.status_code in (201, 409)
    response = await log_in(client, email)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/refresh", json={"refresh_token": token})


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def refused_within(client: httpx.AsyncClient, tokens: dict[str, Any], seconds: float) -> bool:
    """Whether `/me` on `client` refuses the access token within `seconds` (polled every 0.1 s):
    another replica learns of an ended session from its once-a-second poll."""
    for _ in range(round(seconds / 0.1)):
        if (await client.get("/me", headers=bearer(tokens))).status_code == 401:
            return True
        await asyncio.sleep(0.1)
    return False
