"""The Supabase provider against the Supabase Auth test double (a real server on loopback).

The behavioural suite (tests/test_auth_endpoints.py) already runs on this provider; these
tests cover what is specific to it: every mapping of Supabase's answers, every upstream
fault, the keys it sends, JWKS caching and HS256.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_backend.errors import (
    EmailExists,
    InvalidCredentials,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
)
from auth_backend.main import create_app
from auth_backend.providers.supabase import SupabaseProvider
from auth_backend.providers.supabase.errors import UpstreamError, map_error, parse_error
from auth_backend.settings import Settings
from doubles.supabase import SupabaseDouble
from tests.support.accounts import PASSWORD, log_in, signed_up, unique_email
from tests.support.problems import problem_code
from tests.support.services import running_app, start_server, stop_server, supabase_settings

Service = tuple[FastAPI, httpx.AsyncClient]


@asynccontextmanager
async def supabase_service(
    double: SupabaseDouble, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(supabase_settings(double, **overrides)) as (_app, client):
        yield client


# --- which keys go where ---------------------------------------------------------------------


async def test_admin_calls_carry_the_service_key_and_logins_only_the_anon_key(
    supabase_double: SupabaseDouble,
) -> None:
    async with supabase_service(supabase_double) as client:
        email = await signed_up(client)
        assert (await log_in(client, email)).status_code == 200
    headers = supabase_double.stats()["last_headers"]
    admin = headers["/auth/v1/admin/users"]
    assert admin["apikey"] == supabase_double.service_key
    assert admin["authorization"] == f"Bearer {supabase_double.service_key}"
    token = headers["/auth/v1/token"]
    assert token["apikey"] == supabase_double.anon_key
    assert supabase_double.service_key not in str(token)
    assert token["x-supabase-api-version"] == "2024-01-01"


async def test_cookies_a_gateway_sets_are_never_sent_back(supabase_double: SupabaseDouble) -> None:
    # Hosted Supabase answers through Cloudflare, which sets cookies; a client that kept them
    # would carry one user's cookies into the next user's calls. `localhost` rather than
    # 127.0.0.1, because cookie jars ignore cookies set by IP-address hosts.
    supabase_double.configure(gateway_cookie="set-for-an-earlier-caller")
    url = supabase_double.base_url.replace("127.0.0.1", "localhost")
    async with supabase_service(supabase_double, supabase_url=url) as client:
        for _user in range(2):
            email = await signed_up(client)
            assert (await log_in(client, email)).status_code == 200
    headers = supabase_double.stats()["last_headers"]
    assert "set-cookie" not in headers["/auth/v1/token"]  # sanity: these are request headers
    assert "cookie" not in headers["/auth/v1/token"]
    assert "cookie" not in headers["/auth/v1/admin/users"]


async def test_the_end_users_ip_is_forwarded_in_the_configured_header(
    supabase_double: SupabaseDouble,
) -> None:
    async with supabase_service(
        supabase_double, supabase_client_ip_header="CF-Connecting-IP"
    ) as client:
        await log_in(client, unique_email())
    token_headers = supabase_double.stats()["last_headers"]["/auth/v1/token"]
    # running_app's ASGI client is 203.0.113.7.
    assert token_headers["cf-connecting-ip"] == "203.0.113.7"
    assert "x-forwarded-for" not in token_headers


async def test_per_ip_limits_see_users_not_this_service(supabase_double: SupabaseDouble) -> None:
    supabase_double.set_rate_limit(2, header="X-Forwarded-For")
    async with supabase_service(supabase_double) as client:
        email = await signed_up(client)
        assert (await log_in(client, email)).status_code == 200
        assert (await log_in(client, email)).status_code == 200
        limited = await log_in(client, email)
    assert problem_code(limited) == (429, "rate_limited")
    assert int(limited.headers["retry-after"]) > 0


# --- signup ----------------------------------------------------------------------------------


async def test_auto_confirm_off_leaves_the_email_unconfirmed(
    supabase_double: SupabaseDouble,
) -> None:
    async with supabase_service(supabase_double, signup_auto_confirm=False) as client:
        email = unique_email()
        created = await client.post("/signup", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201
        assert created.json()["email_confirmed_at"] is None
        assert problem_code(await log_in(client, email)) == (403, "email_not_confirmed")
        # A wrong password does not reveal that the account exists but is unconfirmed.
        assert problem_code(await log_in(client, email, "wrong password!")) == (
            401,
            "invalid_credentials",
        )


async def test_our_password_policy_runs_before_supabase_is_called(
    supabase_double: SupabaseDouble,
) -> None:
    async with supabase_service(supabase_double) as client:
        response = await client.post("/signup", json={"email": unique_email(), "password": "short"})
        assert problem_code(response) == (400, "weak_password")
        response = await client.post(
            "/signup", json={"email": unique_email(), "password": "p" * 73}
        )
        assert problem_code(response) == (400, "weak_password")
    assert "/auth/v1/admin/users" not in supabase_double.stats()["requests"]


async def test_concurrent_signups_of_one_email_are_one_201_and_409s(
    supabase_double: SupabaseDouble,
) -> None:
    # Supabase itself answers racing creates with 500s (docs/reference/supabase-auth-behaviour.md,
    # Corrections).
    supabase_double.configure(create_user_db_latency=0.2)
    email = unique_email("race")
    async with supabase_service(supabase_double) as client:
        responses = await asyncio.gather(
            *(client.post("/signup", json={"email": email, "password": PASSWORD}) for _ in range(4))
        )
    statuses = [r.status_code for r in responses]
    # The losers get what a sequential duplicate gets, not a provider error.
    assert sorted(statuses) == [201, 409, 409, 409]


# --- login mappings --------------------------------------------------------------------------


async def test_banned_users_get_the_401_of_any_wrong_password(
    supabase_double: SupabaseDouble,
) -> None:
    # Supabase checks the ban before the password: a 403 would tell a guesser that the address
    # has an account. The banned user, right password or not, gets what everyone else gets.
    email = unique_email()
    supabase_double.create_user_directly(email, PASSWORD, ban_duration="1h")
    async with supabase_service(supabase_double) as client:
        banned_right = await log_in(client, email)
        banned_wrong = await log_in(client, email, "not the password at all")
        unknown = await log_in(client, unique_email(), "not the password at all")
    assert problem_code(banned_right) == (401, "invalid_credentials")
    assert problem_code(banned_wrong) == (401, "invalid_credentials")
    body = {key: value for key, value in banned_wrong.json().items() if key != "request_id"}
    assert body == {key: value for key, value in unknown.json().items() if key != "request_id"}


async def test_passwords_over_72_bytes_are_wrong_credentials_without_a_call(
    supabase_double: SupabaseDouble,
) -> None:
    async with supabase_service(supabase_double) as client:
        # 40 characters, 80 bytes: within the contract's 72 characters, over the byte rule.
        over_72_bytes = await log_in(client, unique_email(), "é" * 40)
        # Over the contract's 72 characters: refused as input before anything else.
        over_72_characters = await log_in(client, unique_email(), "x" * 100)
    assert problem_code(over_72_bytes) == (401, "invalid_credentials")
    assert problem_code(over_72_characters) == (400, "validation_failed")
    assert "/auth/v1/token" not in supabase_double.stats()["requests"]


async def test_form_and_json_logins_give_the_same_tokens_shape(
    supabase_double: SupabaseDouble,
) -> None:
    async with supabase_service(supabase_double) as client:
        email = await signed_up(client)
        form = await client.post("/login", data={"username": email, "password": PASSWORD})
        json_ = await log_in(client, email)
    assert form.status_code == json_.status_code == 200
    assert set(form.json()) == set(json_.json())
    assert form.json()["user"]["id"] == json_.json()["user"]["id"]


# --- our own credentials rejected: 503 and an error log, never a 401 to the caller ------------


async def test_a_rejected_service_key_is_a_503_and_an_error_log(
    supabase_double: SupabaseDouble, caplog: pytest.LogCaptureFixture
) -> None:
    bad_key = "sb_secret_not-a-real-key"
    with caplog.at_level(logging.ERROR):
        async with supabase_service(supabase_double, supabase_service_key=bad_key) as client:
            response = await client.post(
                "/signup", json={"email": unique_email(), "password": PASSWORD}
            )
    assert problem_code(response) == (503, "provider_misconfigured")
    assert any(
        "SUPABASE_SERVICE_KEY" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR
    )
    assert bad_key not in caplog.text


async def test_a_rejected_anon_key_on_login_is_a_503(supabase_double: SupabaseDouble) -> None:
    async with supabase_service(supabase_double, supabase_anon_key="wrong-anon-key") as client:
        response = await log_in(client, unique_email())
    assert problem_code(response) == (503, "provider_misconfigured")


async def test_a_key_that_is_not_admin_is_a_503(supabase_double: SupabaseDouble) -> None:
    # The settings refuse an anon JWT as service key; built directly, it reaches Supabase,
    # which answers 403 not_admin.
    provider = SupabaseProvider(
        project_url=supabase_double.base_url,
        service_key=supabase_double.anon_key,
        anon_key=supabase_double.anon_key,
        jwt_secret=None,
        issuer=f"{supabase_double.base_url}/auth/v1",
        auto_confirm=True,
        client_ip_header="X-Forwarded-For",
        timeout_seconds=5,
    )
    app = create_app(supabase_settings(supabase_double), provider=provider)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post(
                "/signup", json={"email": unique_email(), "password": PASSWORD}
            )
    assert problem_code(response) == (503, "provider_misconfigured")


# --- upstream faults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"kind": "status", "status": 500}, (502, "provider_error")),
        ({"kind": "status", "status": 502}, (502, "provider_error")),
        ({"kind": "status", "status": 503}, (502, "provider_error")),
        ({"kind": "status", "status": 504}, (502, "provider_error")),
        ({"kind": "html", "status": 502}, (502, "provider_error")),
        ({"kind": "html", "status": 200}, (502, "provider_error")),
        ({"kind": "drop"}, (503, "provider_unavailable")),
        ({"kind": "delay", "seconds": 3.0}, (503, "provider_unavailable")),
    ],
    ids=["500", "502", "503", "504", "html-502", "html-200", "dropped", "timeout"],
)
@pytest.mark.parametrize("operation", ["signup", "login"])
async def test_upstream_faults_are_502_or_503_and_never_hang(
    supabase_double: SupabaseDouble,
    fault: dict[str, Any],
    expected: tuple[int, str],
    operation: str,
) -> None:
    async with supabase_service(supabase_double, supabase_timeout=1.0) as client:
        email = await signed_up(client)
        supabase_double.set_fault(**fault)
        started = time.monotonic()
        if operation == "signup":
            response = await client.post(
                "/signup", json={"email": unique_email(), "password": PASSWORD}
            )
        else:
            response = await log_in(client, email)
        elapsed = time.monotonic() - started
    assert problem_code(response) == expected
    assert elapsed < 2.5
    body = response.text.lower()
    assert "gotrue" not in body and "<html" not in body


async def test_an_unreachable_supabase_is_503(tmp_path: Any) -> None:
    settings = Settings(
        _env_file=None,
        supabase_url="http://127.0.0.1:9",
        supabase_service_key="sb_secret_x",
        supabase_timeout=1.0,
    )
    async with running_app(settings) as (_app, client):
        response = await client.post(
            "/signup", json={"email": unique_email(), "password": PASSWORD}
        )
        assert problem_code(response) == (503, "provider_unavailable")
        # No keys could ever be fetched: a token cannot be verified either way.
        me = await client.get("/me", headers={"Authorization": "Bearer a.b.c"})
        assert me.status_code in (401, 503)


async def test_the_pool_reuses_connections(supabase_double: SupabaseDouble) -> None:
    async with supabase_service(supabase_double) as client:
        email = await signed_up(client)
        for _ in range(50):
            assert (await log_in(client, email)).status_code == 200
    assert supabase_double.stats()["connections"] <= 2


async def test_concurrent_logins_each_get_their_own_tokens(supabase_double: SupabaseDouble) -> None:
    async with supabase_service(supabase_double) as client:
        emails = [await signed_up(client) for _ in range(12)]
        responses = await asyncio.gather(*(log_in(client, e) for e in emails * 2))
        for email, response in zip(emails * 2, responses, strict=True):
            assert response.status_code == 200
            token = response.json()["access_token"]
            me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json()["email"] == email
        # Admin calls still run with the service key after all those sign-ins.
        await signed_up(client)
    assert (
        supabase_double.stats()["last_headers"]["/auth/v1/admin/users"]["apikey"]
        == supabase_double.service_key
    )


# --- /me: local verification -----------------------------------------------------------------


def supabase_claims(double: SupabaseDouble, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"{double.base_url}/auth/v1",
        "sub": str(uuid.uuid4()),
        "aud": "authenticated",
        "exp": now + 600,
        "iat": now,
        "email": "",
        "phone": "",
        "app_metadata": {"provider": "phone", "providers": ["phone"]},
        "user_metadata": {},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "otp", "timestamp": now}],
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


async def me_status(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code


async def test_me_needs_no_call_to_supabase(supabase_double: SupabaseDouble) -> None:
    async with supabase_service(supabase_double) as client:
        token = (await log_in(client, await signed_up(client))).json()["access_token"]
        before = supabase_double.stats()["total_requests"]
        for _ in range(20):
            assert await me_status(client, token) == 200
        assert supabase_double.stats()["total_requests"] == before


async def test_supabase_shaped_claims_are_accepted(supabase_double: SupabaseDouble) -> None:
    # A phone user: empty email, amr as objects, string aud.
    token = supabase_double.sign_token(supabase_claims(supabase_double))
    async with supabase_service(supabase_double) as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["email"] == ""


@pytest.mark.parametrize(
    ("changes", "sign_options"),
    [
        ({"aud": "service_role"}, {}),
        ({"aud": None}, {}),
        ({"iss": "https://other.supabase.co/auth/v1"}, {}),
        ({"exp": None}, {}),
        ({"exp": int(time.time()) - 600}, {}),
        ({"sub": None}, {}),
        ({}, {"foreign": True}),
        ({}, {"alg": "none"}),
        ({}, {"alg": "HS256"}),  # no SUPABASE_JWT_SECRET configured: HS256 is refused
        ({}, {"no_kid": True}),
    ],
    ids=[
        "wrong-aud",
        "no-aud",
        "wrong-iss",
        "no-exp",
        "expired",
        "no-sub",
        "foreign-key",
        "alg-none",
        "hs256",
        "no-kid",
    ],
)
async def test_tokens_that_are_not_valid_here_are_401(
    supabase_double: SupabaseDouble, changes: dict[str, Any], sign_options: dict[str, Any]
) -> None:
    token = supabase_double.sign_token(supabase_claims(supabase_double, **changes), **sign_options)
    async with supabase_service(supabase_double) as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert problem_code(response) == (401, "invalid_token")


async def test_a_token_without_iss_is_accepted(supabase_double: SupabaseDouble) -> None:
    token = supabase_double.sign_token(supabase_claims(supabase_double, iss=None))
    async with supabase_service(supabase_double) as client:
        assert await me_status(client, token) == 200


async def test_a_rotated_signing_key_is_fetched_once(supabase_double: SupabaseDouble) -> None:
    async with supabase_service(supabase_double) as client:
        email = await signed_up(client)
        jwks_fetches = supabase_double.stats()["requests"]["/auth/v1/.well-known/jwks.json"]
        supabase_double.rotate_signing_key()
        token = (await log_in(client, email)).json()["access_token"]
        assert await me_status(client, token) == 200
        assert await me_status(client, token) == 200
        after = supabase_double.stats()["requests"]["/auth/v1/.well-known/jwks.json"]
    assert after == jwks_fetches + 1


async def test_garbage_kids_cannot_flood_supabase(supabase_double: SupabaseDouble) -> None:
    async with supabase_service(supabase_double) as client:
        for _ in range(30):
            token = supabase_double.sign_token(
                supabase_claims(supabase_double), kid=uuid.uuid4().hex, foreign=True
            )
            assert await me_status(client, token) == 401
        fetches = supabase_double.stats()["requests"]["/auth/v1/.well-known/jwks.json"]
    # One at start-up and at most one rate-limited refetch.
    assert fetches <= 2


async def test_the_jwks_route_publishes_supabases_public_keys(
    supabase_double: SupabaseDouble,
) -> None:
    async with supabase_service(supabase_double) as client:
        ours = (await client.get("/.well-known/jwks.json")).json()
    theirs = httpx.get(supabase_double.jwks_url).json()
    assert {k["kid"] for k in ours["keys"]} == {k["kid"] for k in theirs["keys"]}
    assert all("d" not in key for key in ours["keys"])


async def test_hs256_projects_verify_with_the_jwt_secret(
    supabase_double_hs256: SupabaseDouble,
) -> None:
    double = supabase_double_hs256
    async with supabase_service(double, supabase_jwt_secret=double.jwt_secret) as client:
        email = await signed_up(client)
        token = (await log_in(client, email)).json()["access_token"]
        assert await me_status(client, token) == 200
        assert (await client.get("/.well-known/jwks.json")).json() == {"keys": []}
        forged = double.sign_token(supabase_claims(double), alg="HS256", foreign=True)
        assert await me_status(client, forged) == 401


async def test_hs256_tokens_are_refused_without_the_secret(
    supabase_double_hs256: SupabaseDouble,
) -> None:
    double = supabase_double_hs256
    async with supabase_service(double) as client:
        token = (await log_in(client, await signed_up(client))).json()["access_token"]
        assert await me_status(client, token) == 401


# --- readiness ----------------------------------------------------------------------------------


async def test_readiness_reports_reachability_and_key_acceptance(
    supabase_double: SupabaseDouble,
) -> None:
    async with running_app(supabase_settings(supabase_double, supabase_timeout=1.0)) as (
        app,
        _client,
    ):
        provider: SupabaseProvider = app.state.provider
        await provider.check_ready()
        supabase_double.set_fault("drop")
        with pytest.raises(ProviderUnavailable):
            await provider.check_ready()
        supabase_double.clear_fault()
    async with running_app(
        supabase_settings(supabase_double, supabase_service_key="sb_secret_bad")
    ) as (app, _client):
        with pytest.raises(ProviderMisconfigured):
            await app.state.provider.check_ready()


# --- both error shapes, as Supabase really sends them ----------------------------------------

LEGACY: dict[str, str] = {}
CURRENT = {"X-Supabase-Api-Version": "2024-01-01"}


@pytest.mark.parametrize("version", [LEGACY, CURRENT], ids=["legacy-shape", "current-shape"])
def test_both_error_shapes_map_to_the_same_problems(
    supabase_double: SupabaseDouble, version: dict[str, str]
) -> None:
    admin = {
        "apikey": supabase_double.service_key,
        "Authorization": f"Bearer {supabase_double.service_key}",
    }
    anon = {"apikey": supabase_double.anon_key}
    with httpx.Client(base_url=supabase_double.auth_url) as http:
        body = {"email": "shape@example.com", "password": PASSWORD, "email_confirm": True}
        assert http.post("/admin/users", json=body, headers=admin).status_code == 200
        duplicate = http.post("/admin/users", json=body, headers={**admin, **version})
        wrong = http.post(
            "/token",
            params={"grant_type": "password"},
            json={"email": "shape@example.com", "password": "nope"},
            headers={**anon, **version},
        )
        gateway = http.post("/admin/users", json=body, headers=version)
        supabase_double.set_rate_limit(1, header="X-Forwarded-For")
        for _ in range(2):
            limited = http.post(
                "/token",
                params={"grant_type": "password"},
                json={"email": "shape@example.com", "password": PASSWORD},
                headers={**anon, **version, "X-Forwarded-For": "198.51.100.1"},
            )
    if version is LEGACY:
        assert isinstance(duplicate.json()["code"], int)  # really the legacy shape
    else:
        assert duplicate.json()["code"] == "email_exists"
    assert isinstance(map_error(parsed(duplicate), "test"), EmailExists)
    assert isinstance(map_error(parsed(wrong), "test"), InvalidCredentials)
    assert isinstance(map_error(parsed(gateway), "test"), ProviderMisconfigured)
    assert limited.status_code == 429
    assert isinstance(map_error(parsed(limited), "test"), RateLimited)


def parsed(response: httpx.Response) -> UpstreamError:
    return parse_error(response.status_code, response.headers, response.content)


def test_the_real_process_serves_the_flow_on_supabase(
    supabase_double: SupabaseDouble, tmp_path: Any
) -> None:
    server = start_server(
        {
            "SUPABASE_URL": supabase_double.base_url,
            "SUPABASE_SERVICE_KEY": supabase_double.service_key,
            "SUPABASE_ANON_KEY": supabase_double.anon_key,
        },
        tmp_path / "server.log",
    )
    try:
        email = unique_email("live")
        with httpx.Client(base_url=server.base_url) as client:
            assert (
                client.post("/signup", json={"email": email, "password": PASSWORD}).status_code
                == 201
            )
            tokens = client.post("/login", data={"username": email, "password": PASSWORD})
            assert tokens.status_code == 200
            me = client.get(
                "/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
            )
            assert me.status_code == 200 and me.json()["email"] == email
    finally:
        stop_server(server)
    log = server.log()
    assert "provider=supabase" in log
    for secret in (
        supabase_double.service_key,
        supabase_double.anon_key,
        PASSWORD,
        tokens.json()["access_token"],
    ):
        assert secret not in log
