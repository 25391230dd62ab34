"""The README cannot rot: its token-verification snippet runs against a live server, and its
configuration table names every setting."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from auth_backend.settings import Settings
from tests.support.accounts import PASSWORD, unique_email
from tests.support.services import ROOT, LiveServer

README = (ROOT / "README.md").read_text(encoding="utf-8")


def snippet(name: str) -> str:
    match = re.search(rf"<!-- snippet: {name}\b[^>]*-->\n```python\n(.*?)```", README, re.DOTALL)
    assert match, f"README has no python block marked 'snippet: {name}'"
    return match.group(1)


@pytest.fixture
def verify_module(live_server: LiveServer) -> dict[str, Any]:
    """The README's code, executed as written, pointed at the live server."""
    namespace: dict[str, Any] = {"__name__": "readme_snippet"}
    exec(compile(snippet("verify-token"), "README.md", "exec"), namespace)
    assert namespace["AUTH_BACKEND"] == "http://auth-backend:8080"
    namespace["AUTH_BACKEND"] = live_server.base_url
    return namespace


def access_token(live_server: LiveServer) -> tuple[str, dict[str, Any]]:
    email = unique_email("reader")
    signup = httpx.post(
        f"{live_server.base_url}/signup", json={"email": email, "password": PASSWORD}
    )
    assert signup.status_code == 201
    login = httpx.post(f"{live_server.base_url}/login", json={"email": email, "password": PASSWORD})
    return login.json()["access_token"], signup.json()


def test_the_readme_snippet_verifies_a_real_token(
    verify_module: dict[str, Any], live_server: LiveServer
) -> None:
    token, user = access_token(live_server)
    claims = verify_module["verify"](token)
    assert claims["sub"] == user["id"]
    assert claims["email"] == user["email"]
    assert claims["iss"] == "auth-backend"


def test_the_readme_snippet_rejects_a_tampered_token(
    verify_module: dict[str, Any], live_server: LiveServer
) -> None:
    token, _user = access_token(live_server)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "service_role"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(JoseError):
        verify_module["verify"](f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("kid", ["ours", "unknown-kid"])
def test_the_readme_snippet_rejects_a_token_signed_by_another_key(
    verify_module: dict[str, Any], live_server: LiveServer, kid: str
) -> None:
    token, _user = access_token(live_server)
    real_kid = jwt.decode(token, verify_module["fetch_keys"](), algorithms=["ES256"]).header["kid"]
    stranger = ECKey.generate_key("P-256", private=True)
    header = {"alg": "ES256", "kid": real_kid if kid == "ours" else kid}
    claims = {"sub": "x", "aud": "authenticated", "iss": "auth-backend", "exp": 4102444800}
    with pytest.raises(JoseError):
        verify_module["verify"](jwt.encode(header, claims, stranger))


def test_the_configuration_table_lists_every_setting() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in table, (
            f"README's configuration table lacks {name.upper()}"
        )
