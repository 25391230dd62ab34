"""A capability a provider does not offer is declared, not faked: its operations answer a
documented 501 `not_supported_by_provider` problem, before reading anything else of the
request, while every other operation works as usual."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from auth_backend.domain import (
    AccessClaims,
    Capability,
    ClientContext,
    Credentials,
    NewAccount,
    TokenGrant,
    UserAccount,
)
from auth_backend.main import create_app
from auth_backend.providers.local import LocalProvider
from tests.support.accounts import unique_email
from tests.support.services import make_settings

PASSWORD = "correct horse battery"


class AccountsOnly:
    """The local provider with its sessions capability taken away: what a provider whose
    backend cannot rotate or end sessions would declare."""

    name = "local"
    capabilities = frozenset({Capability.ACCOUNTS})

    def __init__(self, inner: LocalProvider) -> None:
        self._inner = inner

    async def start(self) -> None:
        await self._inner.start()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def verify_access_token(self, token: str) -> AccessClaims:
        return await self._inner.verify_access_token(token)

    async def public_keys(self) -> dict[str, Any]:
        return await self._inner.public_keys()

    async def check_ready(self) -> None:
        await self._inner.check_ready()

    async def sign_up(self, account: NewAccount, context: ClientContext) -> UserAccount:
        return await self._inner.sign_up(account, context)

    async def sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        return await self._inner.sign_in(credentials, context)


class NothingButTokens(AccountsOnly):
    capabilities: frozenset[Capability] = frozenset()


async def serve(provider: AccountsOnly, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url=database_url), provider=provider)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def local(tmp_path: Path) -> tuple[LocalProvider, str]:
    url = f"sqlite:///{tmp_path / 'auth.db'}"
    settings = make_settings(database_url=url)
    provider = LocalProvider(
        database_url=settings.database_url,
        issuer=settings.jwt_issuer,
        access_token_ttl=settings.access_token_ttl,
    )
    return provider, url


@pytest.fixture
async def accounts_only(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    inner, url = local(tmp_path)
    async for client in serve(AccountsOnly(inner), url):
        yield client


@pytest.fixture
async def tokens_only(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    inner, url = local(tmp_path)
    async for client in serve(NothingButTokens(inner), url):
        yield client


def assert_not_supported(response: httpx.Response, capability: str) -> None:
    assert response.status_code == 501, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "not_supported_by_provider"
    assert problem["type"] == "urn:auth-backend:problem:not_supported_by_provider"
    assert problem["status"] == 501
    assert capability in problem["detail"]
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_sessions_operations_answer_501_without_the_capability(
    accounts_only: httpx.AsyncClient,
) -> None:
    email = unique_email()
    signup = await accounts_only.post("/signup", json={"email": email, "password": PASSWORD})
    assert signup.status_code == 201
    login = await accounts_only.post("/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

    refreshed = await accounts_only.post(
        "/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert_not_supported(refreshed, "sessions")
    assert_not_supported(await accounts_only.post("/logout", headers=bearer), "sessions")
    # Decided before the body, the token or the parameters are read.
    assert_not_supported(await accounts_only.post("/refresh", content=b"not json"), "sessions")
    assert_not_supported(await accounts_only.post("/logout?scope=everything"), "sessions")

    # Everything that needs no sessions capability still works.
    me = await accounts_only.get("/me", headers=bearer)
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert (await accounts_only.get("/ready")).status_code == 200
    assert (await accounts_only.get("/.well-known/jwks.json")).json()["keys"]


async def test_account_operations_answer_501_without_the_capability(
    tokens_only: httpx.AsyncClient,
) -> None:
    body = {"email": unique_email(), "password": PASSWORD}
    assert_not_supported(await tokens_only.post("/signup", json=body), "accounts")
    assert_not_supported(await tokens_only.post("/login", json=body), "accounts")
    assert_not_supported(
        await tokens_only.post("/login", data={"username": body["email"], "password": PASSWORD}),
        "accounts",
    )
    assert (await tokens_only.get("/me")).status_code == 401
    assert (await tokens_only.get("/health")).status_code == 200


class DeclaresWithoutImplementing(NothingButTokens):
    # Claims sessions, but has no refresh/sign_out.
    capabilities = frozenset({Capability.SESSIONS})


def test_a_provider_declaring_a_capability_it_does_not_implement_is_refused(
    tmp_path: Path,
) -> None:
    inner, url = local(tmp_path)
    with pytest.raises(TypeError, match="declares sessions without implementing it"):
        create_app(make_settings(database_url=url), provider=DeclaresWithoutImplementing(inner))
