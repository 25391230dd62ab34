"""The documentation cannot rot: the token-verification snippet runs against a live server, the
configuration table names every setting, and every relative link leads to a file that exists."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from auth_backend.settings import Settings
from tests.support.accounts import PASSWORD, unique_email
from tests.support.services import ROOT, LiveServer

VERIFYING_TOKENS = ROOT / "docs" / "verifying-tokens.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"


def snippet(name: str, page: Path = VERIFYING_TOKENS) -> str:
    text = page.read_text(encoding="utf-8")
    match = re.search(rf"<!-- snippet: {name}\b[^>]*-->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, f"{page.relative_to(ROOT)} has no python block marked 'snippet: {name}'"
    return match.group(1)


@pytest.fixture
def verify_module(live_server: LiveServer) -> dict[str, Any]:
    """The documented code, executed as written, pointed at the live server."""
    namespace: dict[str, Any] = {"__name__": "readme_snippet"}
    exec(compile(snippet("verify-token"), str(VERIFYING_TOKENS), "exec"), namespace)
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
    table = CONFIGURATION.read_text(encoding="utf-8").split("## Variables", 1)[1]
    table = table.split("\n## ", 1)[0]
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in table, (
            f"docs/configuration.md's table lacks {name.upper()}"
        )


# --- links ------------------------------------------------------------------------------------

# The pages a reader moves between; a renamed or moved file must take its links with it.
LINKED_PAGES = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")]
)
# What the repository's own documentation must not send a reader to: files outside it.
MENTION_PAGES = sorted([*LINKED_PAGES, ROOT / "CHANGELOG.md"])
FORBIDDEN_MENTIONS = ("../shared", "DESIGN.md")

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)


def relative_links(page: Path) -> list[str]:
    """The link targets of a Markdown page that name files, code blocks and spans left out."""
    text = _CODE_SPAN.sub("", _FENCE.sub("", page.read_text(encoding="utf-8")))
    targets = _INLINE_LINK.findall(text) + _REFERENCE_LINK.findall(text)
    return [
        target
        for target in targets
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)  # http(s), mailto
        and not target.startswith("#")  # this page
    ]


def test_the_link_pages_exist() -> None:
    assert (ROOT / "CONTRIBUTING.md").is_file()
    assert VERIFYING_TOKENS in LINKED_PAGES
    assert len(LINKED_PAGES) > 3


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_in_the_repository(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (page.parent / path).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert broken == [], f"{page.relative_to(ROOT)} links to what is not in the repository"


def test_the_link_check_sees_links_and_skips_code() -> None:
    page = ROOT / "README.md"
    assert "docs/verifying-tokens.md" in relative_links(page)
    sample = "[a](x.md#part) [b](https://example.com) [c](#here) `[d](e.md)`\n```\n[f](g.md)\n```\n"
    text = _CODE_SPAN.sub("", _FENCE.sub("", sample))
    assert _INLINE_LINK.findall(text) == ["x.md#part", "https://example.com", "#here"]


@pytest.mark.parametrize("page", MENTION_PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_no_page_points_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for mention in FORBIDDEN_MENTIONS:
        assert mention not in text, f"{page.relative_to(ROOT)} mentions {mention}"
