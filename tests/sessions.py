"""Session helpers shared by the refresh, logout and token-cache tests: an account signed in
over HTTP, a refresh, the bearer header of a token pair, and waiting for a replica to refuse
an ended session."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import unique_email

PASSWORD = "correct horse battery"


async def new_session(client: httpx.AsyncClient, email: str | None = None) -> dict[str, Any]:
    """Sign up (unless the account exists) and log in; the token pair of the new session."""
    email = email or unique_email()
    signup = await client.post("/signup", json={"email": email, "password": PASSWORD})
    assert signup.status_code in (201, 409)
    response = await client.post("/login", json={"email": email, "password": PASSWORD})
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
