"""The behaviour of signUp, logIn and getMe over HTTP, on every provider.

Each test runs once per provider and store (local on SQLite, local on PostgreSQL, Supabase
through its double), skipped only where a provider lacks the capability it needs; errors are
checked as full problem documents, because clients rely on their shape.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from auth_backend.domain import Capability
from tests.support.accounts import PASSWORD, log_in, sign_up, token_for, unique_email
from tests.support.problems import assert_problem
from tests.support.services import LiveServer

# --- signUp ---------------------------------------------------------------------------------


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_signup_creates_a_user(service: httpx.AsyncClient) -> None:
    email = unique_email("ada")
    response = await sign_up(service, email.upper(), user_metadata={"display_name": "Ada"})
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == email  # normalised to lower case
    assert user["role"] == "authenticated"
    assert user["aud"] == "authenticated"
    # Supabase adds its own keys (email_verified); what the caller sent is kept as sent.
    assert user["user_metadata"].items() >= {"display_name": "Ada"}.items()
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["created_at"] and user["updated_at"] and user["email_confirmed_at"]
    assert user["last_sign_in_at"] is None
    assert set(user) == {
        "id", "email", "role", "aud", "email_confirmed_at", "created_at",
        "updated_at", "last_sign_in_at", "user_metadata", "app_metadata",
    }  # fmt: skip


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_signup_with_an_existing_email_in_any_case_is_409(service: httpx.AsyncClient) -> None:
    email = unique_email()
    assert (await sign_up(service, email)).status_code == 201
    response = await sign_up(service, email.replace("user", "USER"), password="another password")
    body = assert_problem(response, 409, "email_exists")
    assert "already exists" in body["detail"]


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short12", "at least 8 characters"),
        ("", "at least 8 characters"),
        ("é" * 37, "at most 72 bytes"),  # 37 characters, 74 bytes
        ("a" * 73, "at most 72 bytes"),
    ],
)
@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_signup_refuses_weak_passwords(
    service: httpx.AsyncClient, password: str, reason: str
) -> None:
    body = assert_problem(await sign_up(service, unique_email(), password), 400, "weak_password")
    assert reason in body["detail"]


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_password_of_exactly_72_bytes_is_accepted(service: httpx.AsyncClient) -> None:
    email = unique_email()
    password = "é" * 36  # 72 bytes
    assert (await sign_up(service, email, password)).status_code == 201
    assert (await log_in(service, email, password)).status_code == 200


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_passwords_are_nfkc_normalised(service: httpx.AsyncClient) -> None:
    email = unique_email()
    ascii_password = "quartz-ledger-42"
    # The fullwidth forms (U+FF01..U+FF5E) that NFKC folds back to ASCII.
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in ascii_password)
    assert fullwidth != ascii_password
    assert (await sign_up(service, email, fullwidth)).status_code == 201
    assert (await log_in(service, email, ascii_password)).status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, {"body.email"}),
        ({"password": PASSWORD}, {"body.email"}),
        ({"email": "a@example.com"}, {"body.password"}),
        ({"email": "a@example.com", "password": 12345678}, {"body.password"}),
        ({"email": "a@example.com", "password": PASSWORD, "role": "admin"}, {"body.role"}),
        (
            {"email": "a@example.com", "password": PASSWORD, "user_metadata": []},
            {"body.user_metadata"},
        ),
        ({}, {"body.email", "body.password"}),
    ],
)
@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_signup_validation_names_each_field(
    service: httpx.AsyncClient, body: dict[str, Any], fields: set[str]
) -> None:
    problem = assert_problem(await service.post("/signup", json=body), 400, "validation_failed")
    assert {error["field"] for error in problem["errors"]} == fields
    assert all(error["message"] for error in problem["errors"])


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]", b"null", b'"text"'])
@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_signup_with_a_body_that_is_not_an_object_is_400(
    service: httpx.AsyncClient, raw: bytes
) -> None:
    response = await service.post(
        "/signup", content=raw, headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "validation_failed")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_signup_needs_json(service: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await service.post("/signup", content=b"email=a@example.com", headers=headers)
    body = assert_problem(response, 415, "unsupported_media_type")
    assert "application/json" in body["detail"]


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_error_bodies_never_echo_the_password(service: httpx.AsyncClient) -> None:
    secret = "hunter2-secret-value"
    response = await service.post(
        "/signup", json={"email": "nope", "password": secret, "x": secret}
    )
    assert response.status_code == 400
    assert secret not in response.text


# --- logIn ----------------------------------------------------------------------------------


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_login_with_json_returns_a_token_pair(service: httpx.AsyncClient) -> None:
    email = unique_email()
    user_id = (await sign_up(service, email)).json()["id"]
    before = int(time.time())
    response = await log_in(service, email.upper())
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "expires_at",
        "refresh_token",
        "user",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert before + 3600 <= body["expires_at"] <= int(time.time()) + 3600
    # Opaque: Supabase's are 12 characters, ours 43; either way not the access token.
    assert body["refresh_token"] and body["refresh_token"] != body["access_token"]
    assert body["user"]["id"] == user_id
    assert body["user"]["last_sign_in_at"] is not None


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_login_with_the_oauth2_password_form(service: httpx.AsyncClient) -> None:
    email = unique_email()
    await sign_up(service, email)
    response = await service.post(
        "/login", data={"grant_type": "password", "username": email, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_form_login_refuses_other_grant_types(service: httpx.AsyncClient) -> None:
    response = await service.post(
        "/login",
        data={"grant_type": "client_credentials", "username": "a@example.com", "password": "x"},
    )
    problem = assert_problem(response, 400, "validation_failed")
    assert {e["field"] for e in problem["errors"]} == {"body.grant_type"}


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_form_login_with_missing_fields_is_400(service: httpx.AsyncClient) -> None:
    problem = assert_problem(
        await service.post("/login", data={"username": "a@example.com"}), 400, "validation_failed"
    )
    assert {e["field"] for e in problem["errors"]} == {"body.password"}


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_login_needs_json_or_form(service: httpx.AsyncClient) -> None:
    response = await service.post("/login", content=b"x", headers={"content-type": "text/plain"})
    body = assert_problem(response, 415, "unsupported_media_type")
    assert "application/x-www-form-urlencoded" in body["detail"]


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_wrong_password_and_unknown_email_look_the_same(service: httpx.AsyncClient) -> None:
    email = unique_email()
    await sign_up(service, email)
    wrong = await log_in(service, email, "not the password")
    unknown = await log_in(service, unique_email("ghost"))
    for response in (wrong, unknown):
        assert_problem(response, 401, "invalid_credentials")

    def strip(response: httpx.Response) -> dict[str, Any]:
        return {k: v for k, v in response.json().items() if k != "request_id"}

    assert strip(wrong) == strip(unknown)


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_unknown_email_costs_a_password_verification(
    local_service: httpx.AsyncClient,
) -> None:
    # Loose bounds: the point is that an unknown email is not answered without hashing
    # (which would be ~50x faster), not a precise timing measurement. Local only: with
    # Supabase the timing is Supabase's.
    email = unique_email()
    await sign_up(local_service, email)

    async def timed(address: str) -> float:
        start = time.perf_counter()
        await log_in(local_service, address, "not the password")
        return time.perf_counter() - start

    wrong = statistics.median([await timed(email) for _ in range(5)])
    unknown = statistics.median([await timed(unique_email("ghost")) for _ in range(5)])
    assert 0.5 < unknown / wrong < 2.0, (unknown, wrong)


# --- getMe ----------------------------------------------------------------------------------


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_me_returns_the_user_of_the_token(service: httpx.AsyncClient) -> None:
    email = unique_email()
    signed_up = (await sign_up(service, email, user_metadata={"team": "core"})).json()
    token = (await log_in(service, email)).json()["access_token"]
    response = await service.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    me = response.json()
    assert me["id"] == signed_up["id"]
    assert me["email"] == email
    assert me["user_metadata"].items() >= {"team": "core"}.items()
    assert me["app_metadata"] == signed_up["app_metadata"]
    # Tokens carry no timestamps; the contract says they are null here.
    assert me["created_at"] is None and me["last_sign_in_at"] is None


@pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_the_bearer_scheme_is_case_insensitive(
    service: httpx.AsyncClient, scheme: str
) -> None:
    token = await token_for(service, unique_email())
    response = await service.get("/me", headers={"Authorization": f"{scheme} {token}"})
    assert response.status_code == 200


async def test_me_without_a_token_is_401_with_a_challenge(service: httpx.AsyncClient) -> None:
    response = await service.get("/me")
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "Bearer one two",
        "Bearer " + "a" * 9000,
    ],
)
async def test_me_with_a_bad_token_is_401(service: httpx.AsyncClient, authorization: str) -> None:
    response = await service.get("/me", headers={"Authorization": authorization})
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_me_with_a_tampered_token_is_401(service: httpx.AsyncClient) -> None:
    token = await token_for(service, unique_email())
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    response = await service.get(
        "/me", headers={"Authorization": f"Bearer {header}.{payload}.{flipped}"}
    )
    assert_problem(response, 401, "invalid_token")


# --- the JWKS and the served contract ------------------------------------------------------


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_tokens_verify_against_the_published_jwks(service: httpx.AsyncClient) -> None:
    token = await token_for(service, unique_email())
    response = await service.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    keys = response.json()["keys"]
    assert keys and all("d" not in key for key in keys)  # public halves only
    decoded = jwt.decode(token, KeySet.import_key_set({"keys": keys}), algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256"
    assert decoded.header["kid"] in {key["kid"] for key in keys}
    claims = decoded.claims
    assert claims["aud"] == "authenticated"
    assert claims["role"] == "authenticated"
    assert claims["exp"] - claims["iat"] == 3600
    assert isinstance(claims["amr"], list) and claims["amr"][0]["method"] == "password"
    for name in ("iss", "sub", "email", "phone", "session_id", "aal", "is_anonymous"):
        assert name in claims


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_unknown_routes_are_problems(service: httpx.AsyncClient) -> None:
    assert_problem(await service.get("/nope"), 404, "not_found")
    response = await service.get("/signup")
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_bodies_over_one_mebibyte_are_413(service: httpx.AsyncClient) -> None:
    huge = b'{"email": "a@example.com", "password": "' + b"x" * (1024 * 1024) + b'"}'
    response = await service.post(
        "/signup", content=huge, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_request_id_is_in_the_problem_and_the_header(service: httpx.AsyncClient) -> None:
    response = await service.get("/me", headers={"X-Request-ID": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    assert response.json()["request_id"] == "trace-123"


# --- a real process -------------------------------------------------------------------------


def test_full_flow_against_a_real_process(live_server: LiveServer) -> None:
    email = unique_email("live")
    with httpx.Client(base_url=live_server.base_url) as client:
        created = client.post("/signup", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201
        assert (
            client.post("/signup", json={"email": email, "password": PASSWORD}).status_code == 409
        )
        tokens = client.post("/login", data={"username": email, "password": PASSWORD})
        assert tokens.status_code == 200
        me = client.get("/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
        assert me.status_code == 200
        assert me.json()["id"] == created.json()["id"]
        assert (
            client.post("/login", json={"email": email, "password": "wrong password"}).status_code
            == 401
        )
        assert client.get("/me").status_code == 401
    # Nothing secret reaches the server's log.
    log = live_server.log()
    assert PASSWORD not in log
    assert tokens.json()["access_token"] not in log
    assert tokens.json()["refresh_token"] not in log
