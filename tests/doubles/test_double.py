"""The double itself, over real HTTP against a separate process (reference section in each test)."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from doubles.supabase.config import octet_key
from doubles.supabase.runner import SupabaseDouble, run_double
from tests.support.accounts import PASSWORD

# Reference §7: the CLI's published demo keys.
CLI_ANON_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOj"
    "E5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
)
CLI_SERVICE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZ"
    "SIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)
NEW_API = {"X-Supabase-Api-Version": "2024-01-01"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


@pytest.fixture(scope="module")
def es256_double() -> Iterator[SupabaseDouble]:
    with run_double(mode="es256") as double:
        yield double


@pytest.fixture(scope="module")
def hs256_double() -> Iterator[SupabaseDouble]:
    with run_double(mode="hs256") as double:
        yield double


class Api:
    """Calls Supabase Auth on the double the way a server-side client would."""

    def __init__(self, double: SupabaseDouble) -> None:
        self.double = double
        self.http = httpx.Client(base_url=double.auth_url, timeout=10.0)

    def admin(self, **extra: str) -> dict[str, str]:
        return {"apikey": self.double.service_key, **extra}

    def anon(self, **extra: str) -> dict[str, str]:
        return {"apikey": self.double.anon_key, **extra}

    def user(self, access_token: str, **extra: str) -> dict[str, str]:
        return self.anon(Authorization=f"Bearer {access_token}", **extra)

    def create_user(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post("/admin/users", json=body, headers=self.admin(**headers))

    def sign_in(self, email: str, password: str = PASSWORD, **headers: str) -> httpx.Response:
        body = {"email": email, "password": password}
        return self.http.post("/token?grant_type=password", json=body, headers=self.anon(**headers))

    def refresh(self, refresh_token: str, **headers: str) -> httpx.Response:
        body = {"refresh_token": refresh_token}
        return self.http.post(
            "/token?grant_type=refresh_token", json=body, headers=self.anon(**headers)
        )

    def session(self, email: str | None = None) -> dict[str, Any]:
        """A confirmed user signed in once; returns the token response body."""
        email = email or f"u-{uuid.uuid4().hex[:8]}@example.com"
        self.double.create_user_directly(email, PASSWORD)
        response = self.sign_in(email)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def api(es256_double: SupabaseDouble) -> Iterator[Api]:
    es256_double.reset()
    client = Api(es256_double)
    yield client
    client.http.close()


@pytest.fixture
def hs_api(hs256_double: SupabaseDouble) -> Iterator[Api]:
    hs256_double.reset()
    client = Api(hs256_double)
    yield client
    client.http.close()


def segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def legacy(response: httpx.Response, status: int, code: str, msg: str) -> None:
    """Reference §2 legacy shape, plus the `x-sb-error-code` header."""
    assert response.status_code == status, response.text
    body = response.json()
    assert {k: body[k] for k in ("code", "error_code", "msg")} == {
        "code": status,
        "error_code": code,
        "msg": msg,
    }
    assert response.headers["x-sb-error-code"] == code
    assert "X-Supabase-Api-Version" not in response.headers


# --- §1 gateway ---------------------------------------------------------------------------


def test_gateway_rejects_missing_and_wrong_api_keys(api: Api) -> None:
    missing = api.http.get("/health")
    assert (missing.status_code, missing.json()) == (
        401,
        {"message": "No API key found in request"},
    )
    assert "x-sb-error-code" not in missing.headers
    wrong = api.http.get("/health", headers={"apikey": "nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {
        "message": "Invalid API key",
        "hint": "Double check your Supabase `anon` or `service_role` API key.",
    }


def test_default_keys_are_the_cli_vectors(es256_double: SupabaseDouble) -> None:
    # Reference §7.
    assert es256_double.anon_key == CLI_ANON_KEY
    assert es256_double.service_key == CLI_SERVICE_KEY
    assert es256_double.jwt_secret == "super-secret-jwt-token-with-at-least-32-characters-long"


def test_authorization_is_derived_from_apikey_only_when_absent(api: Api) -> None:
    body = {"email": "a@example.com"}
    # No Authorization: the gateway copies the service apikey into it.
    assert api.create_user(body).status_code == 200
    # Anon apikey alone: a valid JWT without an admin role.
    anon = api.http.post("/admin/users", json={"email": "b@example.com"}, headers=api.anon())
    legacy(anon, 403, "not_admin", "User not allowed")
    # A user JWT in Authorization beats the service key in apikey (reference §1, §8.3).
    token = api.session()["access_token"]
    mixed = api.create_user({"email": "c@example.com"}, Authorization=f"Bearer {token}")
    legacy(mixed, 403, "not_admin", "User not allowed")


def test_opaque_keys_pass_the_gateway_and_become_internal_jwts(api: Api) -> None:
    double = api.double
    secret = {"apikey": double.secret_key}
    assert api.http.post("/admin/users", json={"email": "a@example.com"}, headers=secret).is_success
    # "Bearer sb_…" in Authorization is replaced from apikey (reference §1).
    rewritten = {**secret, "Authorization": f"Bearer {double.secret_key}"}
    created = api.http.post("/admin/users", json={"email": "b@example.com"}, headers=rewritten)
    assert created.status_code == 200
    publishable = {"apikey": double.publishable_key}
    denied = api.http.post("/admin/users", json={"email": "c@example.com"}, headers=publishable)
    legacy(denied, 403, "not_admin", "User not allowed")


def test_paths_outside_auth_have_no_route(api: Api) -> None:
    response = httpx.get(f"{api.double.base_url}/rest/v1/things")
    assert response.status_code == 404
    assert api.http.get("/nope", headers=api.anon()).status_code == 404


# --- §2 error envelopes -------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2024-01-01", "2025-06-30"])
def test_new_error_shape_from_2024_01_01(api: Api, version: str) -> None:
    response = api.sign_in("nobody@example.com", **{"X-Supabase-Api-Version": version})
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_credentials",
        "message": "Invalid login credentials",
    }
    assert response.headers["X-Supabase-Api-Version"] == "2024-01-01"
    assert response.headers["x-sb-error-code"] == "invalid_credentials"


@pytest.mark.parametrize("version", [None, "2023-12-31", "banana"])
def test_legacy_error_shape_otherwise(api: Api, version: str | None) -> None:
    headers = {} if version is None else {"X-Supabase-Api-Version": version}
    response = api.sign_in("nobody@example.com", **headers)
    assert response.json() == {
        "code": 400,
        "error_code": "invalid_credentials",
        "msg": "Invalid login credentials",
    }
    assert "X-Supabase-Api-Version" not in response.headers


def test_5xx_legacy_errors_carry_error_id_and_new_ones_do_not(api: Api) -> None:
    # Reference §3.1: a >72-byte password panics in bcrypt -> 500 (inferred).
    body = {"email": "long@example.com", "password": "x" * 73}
    old = api.create_user(body)
    assert old.status_code == 500
    assert old.json()["error_code"] == "unexpected_failure"
    assert old.json()["msg"] == "Internal Server Error"
    uuid.UUID(old.json()["error_id"])
    new = api.create_user(body, **NEW_API)
    assert new.json() == {"code": "unexpected_failure", "message": "Internal Server Error"}


# --- §3.1 admin create ----------------------------------------------------------------------


def test_admin_create_returns_200_and_the_full_user_object(api: Api) -> None:
    response = api.create_user(
        {
            "email": "Mixed.Case@Example.com",
            "password": "test",  # no strength check on admin create
            "email_confirm": True,
            "user_metadata": {"name": "Ada"},
            "app_metadata": {"tier": "gold", "provider": None},
            "unknown_field": 1,
        }
    )
    assert response.status_code == 200, response.text
    user = response.json()
    assert list(user) == [
        "id",
        "aud",
        "role",
        "email",
        "email_confirmed_at",
        "phone",
        "app_metadata",
        "user_metadata",
        "identities",
        "created_at",
        "updated_at",
        "is_anonymous",
    ]
    uuid.UUID(user["id"])
    assert (user["aud"], user["role"]) == ("authenticated", "authenticated")
    assert (user["email"], user["phone"], user["is_anonymous"]) == (
        "mixed.case@example.com",
        "",
        False,
    )
    assert user["app_metadata"] == {"providers": ["email"], "tier": "gold"}  # null deleted a key
    assert user["user_metadata"] == {"email_verified": True, "name": "Ada"}
    for key in ("email_confirmed_at", "created_at", "updated_at"):
        assert TIMESTAMP.match(user[key]), user[key]
    [identity] = user["identities"]
    assert identity["id"] == identity["user_id"] == user["id"]
    assert identity["identity_id"] != user["id"]
    assert identity["provider"] == "email"
    assert identity["email"] == "mixed.case@example.com"
    assert identity["identity_data"] == {
        "email": "mixed.case@example.com",
        "email_verified": False,
        "phone_verified": False,
        "sub": user["id"],
    }
    assert identity["last_sign_in_at"] == identity["created_at"]


def test_admin_create_without_password_or_confirmation(api: Api) -> None:
    user = api.create_user({"email": "plain@example.com"}).json()
    assert "email_confirmed_at" not in user
    assert user["user_metadata"] == {}
    assert (
        api.sign_in("plain@example.com", "anything").json()["error_code"] == "invalid_credentials"
    )


def test_admin_create_duplicate_email_is_422_case_insensitively(api: Api) -> None:
    assert api.create_user({"email": "dup@example.com"}).status_code == 200
    response = api.create_user({"email": "DUP@example.com"})
    legacy(
        response, 422, "email_exists", "A user with this email address has already been registered"
    )


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ({}, "Cannot create a user without either an email or phone"),
        ({"email": "not-an-email"}, "Unable to validate email address: invalid format"),
        ({"email": "a" * 250 + "@example.com"}, "An email address is too long"),
        ({"phone": "12ab"}, "Invalid phone number format (E.164 required)"),
        (
            {"email": "h@example.com", "password": "x", "password_hash": "$2a$10$" + "a" * 53},
            "Only a password or a password hash should be provided",
        ),
        ({"email": "i@example.com", "id": "nope"}, "ID must conform to the uuid v4 format"),
        ({"email": "i@example.com", "id": str(uuid.UUID(int=0))}, "ID cannot be a nil uuid"),
        (
            {"email": "b@example.com", "ban_duration": "1d"},
            'invalid format for ban duration: time: unknown unit "d" in duration "1d"',
        ),
    ],
)
def test_admin_create_validation(api: Api, body: dict[str, Any], msg: str) -> None:
    legacy(api.create_user(body), 400, "validation_failed", msg)


def test_admin_create_bad_json(api: Api) -> None:
    garbage = api.http.post(
        "/admin/users", content=b"{nope", headers=api.admin(**{"Content-Type": "application/json"})
    )
    assert garbage.status_code == 400
    assert garbage.json()["error_code"] == "bad_json"
    assert garbage.json()["msg"].startswith("Could not parse request body as JSON: ")
    typed = api.create_user({"email": 5})
    assert typed.json()["msg"] == (
        "Could not parse request body as JSON: json: cannot unmarshal number into Go struct "
        "field AdminUserParams.email of type string"
    )


def test_admin_create_phone_user_and_phone_sign_in(api: Api) -> None:
    user = api.create_user(
        {"phone": "+1 555 123 4567", "password": PASSWORD, "phone_confirm": True}
    )
    assert user.json()["phone"] == "15551234567"
    assert user.json()["email"] == ""
    body = {"phone": "+15551234567", "password": PASSWORD}
    signed_in = api.http.post("/token?grant_type=password", json=body, headers=api.anon())
    assert signed_in.status_code == 200
    assert segment(signed_in.json()["access_token"], 1)["phone"] == "15551234567"


def test_admin_auth_failures(api: Api) -> None:
    body = {"email": "x@example.com"}
    legacy(
        api.create_user(body, Authorization="Basic abc"),
        401,
        "no_authorization",
        "This endpoint requires a valid Bearer token",
    )
    garbage = api.create_user(body, Authorization="Bearer garbage")
    assert garbage.status_code == 403
    assert garbage.json()["error_code"] == "bad_jwt"
    assert garbage.json()["msg"].startswith("invalid JWT: unable to parse or verify signature, ")
    expired = api.double.sign_token({"role": "service_role", "exp": int(time.time()) - 5})
    legacy(
        api.create_user(body, Authorization=f"Bearer {expired}"),
        403,
        "bad_jwt",
        "invalid JWT: unable to parse or verify signature, token has invalid claims: "
        "token is expired",
    )
    forged = api.double.sign_token({"role": "service_role"}, alg="HS256", foreign=True)
    assert api.create_user(body, Authorization=f"Bearer {forged}").json()["error_code"] == "bad_jwt"
    supabase_admin = api.double.sign_token({"role": "supabase_admin"})
    assert api.create_user(body, Authorization=f"Bearer {supabase_admin}").status_code == 200
    stale = api.double.sign_token({"role": "service_role", "session_id": str(uuid.uuid4())})
    legacy(
        api.create_user({"email": "y@example.com"}, Authorization=f"Bearer {stale}"),
        403,
        "session_not_found",
        "Session from session_id claim in JWT does not exist",
    )


def test_request_body_over_1_mib_is_413(api: Api) -> None:
    body = {"email": "big@example.com", "user_metadata": {"blob": "x" * (1 << 20)}}
    response = api.create_user(body, **NEW_API)
    assert response.status_code == 413
    assert response.json()["code"] == "request_entity_too_large"


def test_concurrent_creates_of_one_email_give_one_200_and_500s(api: Api) -> None:
    # Corrections: the losers get 500 "Database error creating new user", not 422.
    api.double.configure(create_user_db_latency=0.3)
    barrier = threading.Barrier(4)

    def create(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.double.auth_url) as client:
            barrier.wait()
            return client.post(
                "/admin/users", json={"email": "race@example.com"}, headers=api.admin()
            )

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(create, range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 500, 500, 500]
    for loser in (r for r in responses if r.status_code == 500):
        assert loser.json()["msg"] == "Database error creating new user"
    assert api.create_user({"email": "race@example.com"}).status_code == 422


# --- §3.2 password grant, §4 access token ---------------------------------------------------


def test_password_grant_success_body_headers_and_token(api: Api) -> None:
    api.double.create_user_directly("ok@example.com", PASSWORD)
    before = int(time.time())
    response = api.sign_in("OK@example.com")  # the lookup is case-insensitive
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == [
        "access_token",
        "token_type",
        "expires_in",
        "expires_at",
        "refresh_token",
        "user",
    ]
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert before + 3600 <= body["expires_at"] <= int(time.time()) + 3600
    assert re.fullmatch(r"[a-z2-7]{12}", body["refresh_token"])
    user = body["user"]
    assert TIMESTAMP.match(user["last_sign_in_at"])
    assert user["confirmed_at"] == user["email_confirmed_at"]
    assert response.headers["sb-auth-user-id"] == user["id"]
    assert response.headers["sb-auth-refresh-token-prefix"] == body["refresh_token"][:5]

    header, claims = segment(body["access_token"], 0), segment(body["access_token"], 1)
    jwks = api.http.get("/.well-known/jwks.json").json()
    assert header == {"alg": "ES256", "kid": jwks["keys"][0]["kid"], "typ": "JWT"}
    jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert list(claims) == [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "email",
        "phone",
        "app_metadata",
        "user_metadata",
        "role",
        "aal",
        "amr",
        "session_id",
        "is_anonymous",
    ]
    assert claims["iss"] == f"{api.double.base_url}/auth/v1"
    assert (claims["sub"], claims["aud"], claims["role"]) == (
        user["id"],
        "authenticated",
        "authenticated",
    )
    assert claims["exp"] - claims["iat"] == 3600
    assert (claims["email"], claims["phone"], claims["aal"]) == ("ok@example.com", "", "aal1")
    assert claims["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert claims["amr"] == [{"method": "password", "timestamp": claims["amr"][0]["timestamp"]}]
    assert claims["session_id"] == response.headers["sb-auth-session-id"]
    assert claims["is_anonymous"] is False


def test_weak_password_warning_on_sign_in(api: Api) -> None:
    api.double.create_user_directly("weak@example.com", "test")
    body = api.sign_in("weak@example.com", "test").json()
    assert body["weak_password"] == {
        "message": "Password should be at least 6 characters.",
        "reasons": ["length"],
    }


def test_password_grant_errors_in_order(api: Api) -> None:
    double = api.double
    double.create_user_directly("known@example.com", PASSWORD)
    double.create_user_directly("unconfirmed@example.com", PASSWORD, email_confirm=False)
    double.create_user_directly("banned@example.com", PASSWORD, ban_duration="1h")
    creds = (400, "invalid_credentials", "Invalid login credentials")
    legacy(api.sign_in("unknown@example.com"), *creds)
    legacy(api.sign_in("known@example.com", "wrong"), *creds)
    # Unconfirmed is only revealed after the right password.
    legacy(api.sign_in("unconfirmed@example.com", "wrong"), *creds)
    legacy(
        api.sign_in("unconfirmed@example.com"), 400, "email_not_confirmed", "Email not confirmed"
    )
    # Banned is checked before the password.
    legacy(api.sign_in("banned@example.com", "wrong"), 400, "user_banned", "User is banned")


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        (
            {"email": "a@example.com", "phone": "15550001111", "password": "x"},
            "Only an email address or phone number should be provided on login.",
        ),
        ({"password": "x"}, "missing email or phone"),
    ],
)
def test_password_grant_validation(api: Api, body: dict[str, Any], msg: str) -> None:
    response = api.http.post("/token?grant_type=password", json=body, headers=api.anon())
    legacy(response, 400, "validation_failed", msg)


def test_password_grant_bad_json_and_unknown_grant(api: Api) -> None:
    bad = api.http.post("/token?grant_type=password", content=b"[", headers=api.anon())
    assert bad.json()["error_code"] == "bad_json"
    for query in ("?grant_type=magic", ""):
        response = api.http.post(f"/token{query}", json={}, headers=api.anon())
        legacy(response, 400, "invalid_credentials", "unsupported_grant_type")


def test_issuer_and_lifetime_are_configurable(api: Api) -> None:
    api.double.configure(omit_issuer=True, jwt_exp=60)
    body = api.session()
    claims = segment(body["access_token"], 1)
    assert "iss" not in claims
    assert claims["exp"] - claims["iat"] == 60 == body["expires_in"]


def test_a_gateway_cookie_is_set_on_every_answer_until_reset(api: Api) -> None:
    assert "set-cookie" not in api.sign_in("nobody@example.com").headers
    api.double.configure(gateway_cookie="bm-1")
    for response in (api.sign_in("nobody@example.com"), api.http.get("/health")):
        assert response.headers["set-cookie"].startswith("__cf_bm=bm-1;")
    api.double.reset()
    assert "set-cookie" not in api.http.get("/health").headers


def test_hs256_mode_signs_with_the_secret_and_publishes_no_keys(hs_api: Api) -> None:
    token = hs_api.session()["access_token"]
    assert segment(token, 0) == {"alg": "HS256", "typ": "JWT"}
    jwt.decode(token, octet_key(hs_api.double.jwt_secret), algorithms=["HS256"])
    jwks = hs_api.http.get("/.well-known/jwks.json")
    assert jwks.json() == {"keys": []}
    assert jwks.headers["cache-control"] == "public, max-age=600"
    # ES256 is not an allowed algorithm without an asymmetric key.
    es = hs_api.double.sign_token({"sub": str(uuid.uuid4())}, alg="ES256", foreign=True)
    response = hs_api.http.get("/user", headers=hs_api.user(es))
    assert response.json()["msg"].endswith("signing method ES256 is invalid")


# --- §3.3 refresh grant ---------------------------------------------------------------------


def test_refresh_rotation_parent_tolerance_and_reuse_detection(api: Api) -> None:
    first = api.session()
    rt1 = first["refresh_token"]
    second = api.refresh(rt1).json()
    rt2 = second["refresh_token"]
    assert rt2 != rt1
    # Corrections: the parent of the active token answers 200 with the active token.
    again = api.refresh(rt1)
    assert again.status_code == 200
    assert again.json()["refresh_token"] == rt2
    rt3 = api.refresh(rt2).json()["refresh_token"]
    reused = api.refresh(rt1)
    legacy(reused, 400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
    # The whole session's tokens are revoked, but the session stays.
    assert api.refresh(rt3).json()["error_code"] == "refresh_token_already_used"
    assert api.http.get("/user", headers=api.user(first["access_token"])).status_code == 200


def test_refresh_missing_short_and_unknown_tokens(api: Api) -> None:
    missing = api.http.post("/token?grant_type=refresh_token", json={}, headers=api.anon(**NEW_API))
    assert missing.status_code == 400
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": "refresh_token required",
    }
    for token in ("abc", "aaaaaaaaaaaa"):
        legacy(
            api.refresh(token),
            400,
            "refresh_token_not_found",
            "Invalid Refresh Token: Refresh Token Not Found",
        )


def test_refresh_for_banned_user_and_after_logout(api: Api) -> None:
    session = api.session()
    api.double.ban_user(session["user"]["id"], "1h")
    legacy(
        api.refresh(session["refresh_token"]),
        400,
        "user_banned",
        "Invalid Refresh Token: User Banned",
    )
    api.double.ban_user(session["user"]["id"], "none")
    assert api.http.post("/logout", headers=api.user(session["access_token"])).status_code == 204
    assert api.refresh(session["refresh_token"]).json()["error_code"] == "refresh_token_not_found"


# --- §3.4 logout, §3.5 user -----------------------------------------------------------------


def test_logout_errors_and_second_logout(api: Api) -> None:
    legacy(
        api.http.post("/logout", headers=api.anon(Authorization="Basic x")),
        401,
        "no_authorization",
        "This endpoint requires a valid Bearer token",
    )
    garbage = api.http.post("/logout", headers=api.user("a.b.c"))
    assert (garbage.status_code, garbage.json()["error_code"]) == (403, "bad_jwt")
    # Only the apikey (service role, no sub).
    no_sub = api.http.post("/logout", headers=api.admin())
    legacy(no_sub, 403, "bad_jwt", "invalid claim: missing sub claim")
    token = api.session()["access_token"]
    bad_scope = api.http.post("/logout?scope=everything", headers=api.user(token))
    legacy(bad_scope, 400, "validation_failed", 'Unsupported logout scope "everything"')
    done = api.http.post("/logout", headers=api.user(token))
    assert (done.status_code, done.content) == (204, b"")
    gone = (403, "session_not_found", "Session from session_id claim in JWT does not exist")
    legacy(api.http.post("/logout", headers=api.user(token)), *gone)
    legacy(api.http.get("/user", headers=api.user(token)), *gone)


@pytest.mark.parametrize(
    ("scope", "a_alive", "b_alive"),
    [("global", False, False), ("local", False, True), ("others", True, False)],
)
def test_logout_scopes(api: Api, scope: str, a_alive: bool, b_alive: bool) -> None:
    a = api.session("scopes@example.com")["access_token"]
    b = api.sign_in("scopes@example.com").json()["access_token"]
    query = "" if scope == "global" else f"?scope={scope}"  # global is the default
    assert api.http.post(f"/logout{query}", headers=api.user(a)).status_code == 204
    assert (api.http.get("/user", headers=api.user(a)).status_code == 200) is a_alive
    assert (api.http.get("/user", headers=api.user(b)).status_code == 200) is b_alive


def test_get_user_checks(api: Api) -> None:
    session = api.session()
    token, user_id = session["access_token"], session["user"]["id"]
    me = api.http.get("/user", headers=api.user(token))
    assert me.status_code == 200
    assert me.json()["id"] == user_id
    mismatch = api.http.get("/user", headers=api.user(token, **{"X-JWT-AUD": "other"}))
    legacy(mismatch, 400, "validation_failed", "Token audience doesn't match request audience")
    not_uuid = api.double.sign_token({"sub": "42"})
    legacy(
        api.http.get("/user", headers=api.user(not_uuid)),
        400,
        "bad_jwt",
        "invalid claim: sub claim must be a UUID",
    )
    api.double.ban_user(user_id, "1h")
    legacy(api.http.get("/user", headers=api.user(token)), 403, "user_banned", "User is banned")
    api.double.delete_user(user_id)
    legacy(
        api.http.get("/user", headers=api.user(token)),
        403,
        "user_not_found",
        "User from sub claim in JWT does not exist",
    )


def test_verification_follows_kid_and_alg(api: Api) -> None:
    sub = {"sub": str(uuid.uuid4())}
    cases = {
        "missing kid": api.double.sign_token(sub, no_kid=True),
        "invalid kid: nope": api.double.sign_token(sub, kid="nope"),
        # The real kid, a different key.
        "signature is invalid: crypto/ecdsa: verification error": api.double.sign_token(
            sub, foreign=True
        ),
        "signature is invalid: signature is invalid": api.double.sign_token(
            sub, alg="HS256", foreign=True
        ),
        "signing method none is invalid": api.double.sign_token(sub, alg="none"),
    }
    for detail, token in cases.items():
        response = api.http.get("/user", headers=api.user(token))
        assert response.status_code == 403
        assert response.json()["msg"].endswith(detail), response.json()
    # The legacy HS256 secret stays a verify-only key in es256 mode (reference §4).
    hs = api.double.sign_token(sub, alg="HS256")
    assert api.http.get("/user", headers=api.user(hs)).json()["error_code"] == "user_not_found"


# --- §3.6 JWKS, §3.7 health -----------------------------------------------------------------


def test_jwks_is_open_public_and_cacheable_and_follows_rotation(api: Api) -> None:
    response = api.http.get("/.well-known/jwks.json")  # no apikey: an open route
    assert response.headers["cache-control"] == "public, max-age=600"
    [key] = response.json()["keys"]
    assert set(key) == {"kty", "kid", "alg", "use", "key_ops", "crv", "x", "y"}
    assert (key["kty"], key["alg"], key["use"], key["key_ops"]) == (
        "EC",
        "ES256",
        "sig",
        ["verify"],
    )
    new_kid = api.double.rotate_signing_key()
    kids = [k["kid"] for k in api.http.get("/.well-known/jwks.json").json()["keys"]]
    assert kids == [new_kid, key["kid"]]
    assert segment(api.session()["access_token"], 0)["kid"] == new_kid
    api.double.reset()
    assert [k["kid"] for k in api.http.get("/.well-known/jwks.json").json()["keys"]] == [key["kid"]]


def test_openid_configuration_needs_apikey(api: Api) -> None:
    assert api.http.get("/.well-known/openid-configuration").status_code == 401
    body = api.http.get("/.well-known/openid-configuration", headers=api.anon()).json()
    assert body["issuer"] == api.double.auth_url
    assert body["jwks_uri"] == f"{api.double.auth_url}/.well-known/jwks.json"


def test_health(api: Api) -> None:
    response = api.http.get("/health", headers=api.anon())
    assert response.json() == {
        "version": "v2.196.0",
        "name": "GoTrue",
        "description": "GoTrue is a user registration and authentication API",
    }


# --- §6 rate limit --------------------------------------------------------------------------


def test_token_rate_limit_per_forwarded_ip(api: Api) -> None:
    ip1 = {"X-Forwarded-For": "203.0.113.1"}
    for _ in range(5):  # off by default
        assert api.sign_in("nobody@example.com", **ip1).status_code == 400
    api.double.set_rate_limit(3)
    session = api.session()  # not from ip1: no header, so not limited
    assert api.sign_in("nobody@example.com", **ip1).status_code == 400
    assert api.refresh(session["refresh_token"], **ip1).status_code == 200  # shared bucket
    assert api.sign_in("nobody@example.com", **ip1).status_code == 400
    legacy(
        api.sign_in("nobody@example.com", **ip1),
        429,
        "over_request_rate_limit",
        "Request rate limit reached",
    )
    assert (
        api.sign_in("nobody@example.com", **{"X-Forwarded-For": "203.0.113.2"}).status_code == 400
    )
    api.double.set_rate_limit(1, header="CF-Connecting-IP")
    other = {"CF-Connecting-IP": "198.51.100.7"}
    assert api.sign_in("nobody@example.com", **other).status_code == 400
    assert api.sign_in("nobody@example.com", **other).status_code == 429


# --- faults, stats, control API -------------------------------------------------------------


def test_delay_fault_with_count_and_a_timed_out_create_still_happens(api: Api) -> None:
    api.double.set_fault("delay", seconds=0.4, paths=["/admin/users"], count=1)
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(
            "/admin/users", json={"email": "slow@example.com"}, headers=api.admin(), timeout=0.1
        )
    time.sleep(0.5)  # the server finished the request after the client gave up
    assert api.create_user({"email": "slow@example.com"}).status_code == 422
    start = time.monotonic()
    api.http.get("/health", headers=api.anon())
    assert time.monotonic() - start < 0.3


def test_status_faults_use_gateway_or_gotrue_bodies(api: Api) -> None:
    api.double.set_fault("status", status=503, paths=["/token"])
    gateway = api.sign_in("x@example.com")
    assert gateway.status_code == 503
    assert "message" in gateway.json()
    assert "error_code" not in gateway.json()
    assert api.http.get("/health", headers=api.anon()).status_code == 200  # other paths unaffected
    api.double.set_fault("status", status=500)
    gotrue = api.sign_in("x@example.com", **NEW_API)
    assert gotrue.status_code == 500
    assert gotrue.json()["code"] == "unexpected_failure"
    api.double.clear_fault()
    assert api.sign_in("x@example.com").status_code == 400


def test_drop_fault_closes_the_connection_without_a_response(api: Api) -> None:
    api.double.set_fault("drop", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.http.get("/health", headers=api.anon())
    assert api.http.get("/health", headers=api.anon()).status_code == 200


@pytest.mark.parametrize("status", [200, 502])
def test_html_fault(api: Api, status: int) -> None:
    api.double.set_fault("html", status=status)
    response = api.http.get("/health", headers=api.anon())
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<html>")


def test_stats_count_requests_connections_and_headers(api: Api) -> None:
    for _ in range(3):
        api.http.get("/health", headers=api.anon(**{"X-Forwarded-For": "192.0.2.9"}))
    with httpx.Client(base_url=api.double.auth_url) as other:
        other.get("/.well-known/jwks.json")
    stats = api.double.stats()
    assert stats["requests"] == {"/auth/v1/health": 3, "/auth/v1/.well-known/jwks.json": 1}
    assert stats["connections"] == 2
    sent = stats["last_headers"]["/auth/v1/health"]
    assert sent["apikey"] == api.double.anon_key
    assert sent["x-forwarded-for"] == "192.0.2.9"
    assert "authorization" not in sent  # what the caller sent, before the gateway rewrite
    api.double.reset()
    assert api.double.stats()["total_requests"] == 0


def test_reset_clears_users_faults_and_limits(api: Api) -> None:
    api.double.create_user_directly("gone@example.com", PASSWORD)
    api.double.set_fault("status", status=500, paths=["/health"])
    api.double.set_rate_limit(1)
    api.double.reset()
    assert api.http.get("/health", headers=api.anon()).status_code == 200
    assert api.create_user({"email": "gone@example.com"}).status_code == 200
    config = api.double.config()
    assert config["rate_limit"] is None
    assert config["issuer"] == api.double.auth_url


def test_in_process_variant_serves_the_same_app() -> None:
    with run_double(mode="hs256", in_process=True, issuer="omit") as double:
        assert double.mode == "hs256"
        response = httpx.get(f"{double.auth_url}/health", headers={"apikey": double.anon_key})
        assert response.status_code == 200
        assert double.config()["issuer"] is None
