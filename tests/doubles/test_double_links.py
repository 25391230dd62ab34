"""The double's links, OTPs and self-service update, over real HTTP against a separate process
(reference part 2 §1, §2, §4; part 1 §3.2 for unconfirmed sign-ins)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from doubles.supabase.runner import SupabaseDouble, run_double
from tests.doubles.test_double import NEW_API, TIMESTAMP, Api, legacy, segment
from tests.support.accounts import PASSWORD

NEW_PASSWORD = "another horse battery"
LINK_INVALID = (403, "otp_expired", "Email link is invalid or has expired")
OTP_INVALID = (403, "otp_expired", "Token has expired or is invalid")
SITE_URL = "http://127.0.0.1:3000"


@pytest.fixture(scope="module")
def links_double() -> Iterator[SupabaseDouble]:
    with run_double(mode="es256") as double:
        yield double


class LinkApi(Api):
    def generate_link(
        self, body: dict[str, Any], query: str = "", **headers: str
    ) -> httpx.Response:
        return self.http.post(
            f"/admin/generate_link{query}", json=body, headers=self.admin(**headers)
        )

    def link(self, link_type: str, email: str, **body: Any) -> dict[str, Any]:
        response = self.generate_link({"type": link_type, "email": email, **body})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def verify(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post("/verify", json=body, headers=self.anon(**headers))

    def update(self, access_token: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.put("/user", json=body, headers=self.user(access_token, **headers))


@pytest.fixture
def api(links_double: SupabaseDouble) -> Iterator[LinkApi]:
    links_double.reset()
    client = LinkApi(links_double)
    yield client
    client.http.close()


def sha224(text: str) -> str:
    return hashlib.sha224(text.encode()).hexdigest()


# --- part 2 §1 generate_link ----------------------------------------------------------------


def test_signup_link_for_a_new_user_creates_it_unconfirmed(api: LinkApi) -> None:
    response = api.generate_link(
        {"type": "signup", "email": "New@Example.com", "password": PASSWORD, "data": {"a": 1}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    extra = ["action_link", "email_otp", "hashed_token", "verification_type", "redirect_to"]
    assert list(body)[-5:] == extra
    assert "user" not in body
    assert body["email"] == "new@example.com"
    assert "email_confirmed_at" not in body
    assert TIMESTAMP.match(body["confirmation_sent_at"])
    assert body["user_metadata"] == {"a": 1}
    assert body["identities"][0]["identity_data"]["email_verified"] is False
    assert re.fullmatch(r"\d{6}", body["email_otp"])
    assert body["hashed_token"] == sha224("new@example.com" + body["email_otp"])
    assert (body["verification_type"], body["redirect_to"]) == ("signup", SITE_URL)
    link = urlsplit(body["action_link"])
    assert f"{link.scheme}://{link.netloc}{link.path}" == f"{api.double.auth_url}/verify"
    assert parse_qs(link.query) == {
        "token": [body["hashed_token"]],
        "type": ["signup"],
        "redirect_to": [SITE_URL],
    }
    # Unconfirmed: the password is right, but the sign-in is refused (part 1 §3.2).
    legacy(api.sign_in("new@example.com"), 400, "email_not_confirmed", "Email not confirmed")
    # The control API shows what was generated.
    (recorded,) = api.double.links("new@example.com")
    assert recorded["email_otp"] == body["email_otp"]
    assert recorded["token"] == body["hashed_token"]


def test_signup_link_password_rules_and_existing_users(api: LinkApi) -> None:
    missing = api.generate_link({"type": "signup", "email": "a@example.com"})
    legacy(missing, 400, "validation_failed", "Signup requires a valid password")
    weak = api.generate_link({"type": "signup", "email": "a@example.com", "password": "abc"})
    legacy(weak, 422, "weak_password", "Password should be at least 6 characters.")
    assert weak.json()["weak_password"] == {"reasons": ["length"]}
    # Part 1 §2: the new shape carries no x-sb-error-code for weak passwords.
    weak_new = api.generate_link(
        {"type": "signup", "email": "a@example.com", "password": "abc"}, **NEW_API
    )
    assert weak_new.json() == {
        "code": "weak_password",
        "message": "Password should be at least 6 characters.",
        "weak_password": {"reasons": ["length"]},
    }
    assert "x-sb-error-code" not in weak_new.headers
    assert api.double.links() == []  # nothing was created or generated

    api.double.create_user_directly("confirmed@example.com", PASSWORD)
    exists = api.generate_link(
        {"type": "signup", "email": "confirmed@example.com", "password": PASSWORD}
    )
    legacy(
        exists, 422, "email_exists", "A user with this email address has already been registered"
    )
    # Unconfirmed existing user: data merged (null deletes), password not changed.
    api.double.create_user_directly(
        "pending@example.com",
        PASSWORD,
        email_confirm=False,
        phone_confirm=False,
        user_metadata={"a": 1, "b": 2},
    )
    body = api.link("signup", "pending@example.com", password="x", data={"b": None, "c": 3})
    assert body["user_metadata"] == {"a": 1, "c": 3}
    api.verify({"type": "signup", "email": "pending@example.com", "token": body["email_otp"]})
    assert api.sign_in("pending@example.com").status_code == 200


def test_recovery_and_magiclink_links(api: LinkApi) -> None:
    unknown = api.generate_link({"type": "recovery", "email": "nobody@example.com"})
    legacy(unknown, 404, "user_not_found", "User with this email not found")
    for kind in ("email_change_current", "email_change_new"):
        body = {"type": kind, "email": "nobody@example.com", "new_email": "x@example.com"}
        legacy(api.generate_link(body), 404, "user_not_found", "User with this email not found")

    api.double.create_user_directly("known@example.com", PASSWORD)
    recovery = api.link("recovery", "known@example.com")
    assert recovery["verification_type"] == "recovery"
    assert TIMESTAMP.match(recovery["recovery_sent_at"])
    assert recovery["confirmed_at"] == recovery["email_confirmed_at"]
    assert parse_qs(urlsplit(recovery["action_link"]).query)["type"] == ["recovery"]

    # A magic link to an unknown address silently becomes a signup with a random password.
    new = api.link("magiclink", "fresh@example.com", data={"n": 1})
    assert new["verification_type"] == "signup"
    assert new["user_metadata"] == {"n": 1}
    assert "confirmation_sent_at" in new
    assert "recovery_sent_at" not in new
    # An existing user's magic link uses the recovery slot.
    magic = api.link("magiclink", "known@example.com")
    assert magic["verification_type"] == "magiclink"
    # ... so it replaced the recovery token: the older link is dead.
    old = api.verify({"type": "recovery", "token_hash": recovery["hashed_token"]})
    legacy(old, *LINK_INVALID)
    ok = api.verify({"type": "magiclink", "token_hash": magic["hashed_token"]})
    assert ok.status_code == 200, ok.text


def test_invite_links(api: LinkApi) -> None:
    invite = api.link("invite", "guest@example.com", data={"team": "x"})
    assert TIMESTAMP.match(invite["invited_at"])
    assert invite["user_metadata"] == {"team": "x"}
    # The invitee has no password, so no password works.
    legacy(
        api.sign_in("guest@example.com"), 400, "invalid_credentials", "Invalid login credentials"
    )
    # Unconfirmed: re-invited, with a new token that replaces the first one.
    again = api.link("invite", "guest@example.com")
    assert again["id"] == invite["id"]
    legacy(api.verify({"type": "invite", "token_hash": invite["hashed_token"]}), *LINK_INVALID)
    session = api.verify({"type": "invite", "token_hash": again["hashed_token"]})
    assert session.status_code == 200, session.text
    assert "email_confirmed_at" in session.json()["user"]
    # Confirmed now: a further invite is refused.
    refused = api.generate_link({"type": "invite", "email": "guest@example.com"})
    legacy(
        refused, 422, "email_exists", "A user with this email address has already been registered"
    )


def test_generate_link_validation_order(api: LinkApi) -> None:
    legacy(
        api.generate_link({"type": "recovery"}),
        400,
        "validation_failed",
        "An email address is required",
    )
    # The email is validated before the user is looked up.
    legacy(
        api.generate_link({"type": "recovery", "email": "not-an-email"}),
        400,
        "validation_failed",
        "Unable to validate email address: invalid format",
    )
    # An unknown type is refused even for an unknown user (no 404 first).
    for email in ("nobody@example.com", "known@example.com"):
        if email.startswith("known"):
            api.double.create_user_directly(email, PASSWORD)
        legacy(
            api.generate_link({"type": "bogus", "email": email}),
            400,
            "validation_failed",
            "Invalid email action link type requested: bogus",
        )
    bad_json = api.generate_link({"type": 1, "email": "known@example.com"})
    assert bad_json.json()["error_code"] == "bad_json"
    # Admin auth comes first (part 1 §3.1).
    anon = api.http.post("/admin/generate_link", json={"type": "recovery"}, headers=api.anon())
    legacy(anon, 403, "not_admin", "User not allowed")


def test_redirect_to_is_kept_only_when_allowed(api: LinkApi) -> None:
    api.double.create_user_directly("r@example.com", PASSWORD)
    same_host = "http://127.0.0.1:3000/welcome?a=b"
    body = api.link("recovery", "r@example.com", redirect_to=same_host)
    assert body["redirect_to"] == same_host
    # `&`, `=` or `#` make the redirect query-escaped inside the link.
    assert parse_qs(urlsplit(body["action_link"]).query)["redirect_to"] == [same_host]
    foreign = api.link("recovery", "r@example.com", redirect_to="https://evil.example/x")
    assert foreign["redirect_to"] == SITE_URL
    api.double.configure(uri_allow_list=["https://*.example.org/**"])
    allowed = "https://app.example.org/auth/cb"
    by_query = api.generate_link(
        {"type": "recovery", "email": "r@example.com"}, query=f"?redirect_to={allowed}"
    )
    assert by_query.json()["redirect_to"] == allowed


def test_email_change_links_and_double_confirmation(api: LinkApi) -> None:
    api.double.create_user_directly("old@example.com", PASSWORD)
    api.double.create_user_directly("taken@example.com", PASSWORD)
    missing = api.generate_link({"type": "email_change_new", "email": "old@example.com"})
    legacy(missing, 400, "validation_failed", "An email address is required")
    taken = api.generate_link(
        {"type": "email_change_new", "email": "old@example.com", "new_email": "taken@example.com"}
    )
    legacy(taken, 422, "email_exists", "A user with this email address has already been registered")

    current = api.link("email_change_current", "old@example.com", new_email="NEW@example.com")
    assert current["new_email"] == "new@example.com"
    assert current["email"] == "old@example.com"  # not changed until verified
    new = api.link("email_change_new", "old@example.com", new_email="new@example.com")
    # The trap: hashed_token uses the current address, the stored token the new one.
    assert new["hashed_token"] == sha224("old@example.com" + new["email_otp"])
    new_token = parse_qs(urlsplit(new["action_link"]).query)["token"][0]
    assert new_token == sha224("new@example.com" + new["email_otp"])
    assert parse_qs(urlsplit(new["action_link"]).query)["type"] == ["email_change"]
    legacy(api.verify({"type": "email_change", "token_hash": new["hashed_token"]}), *LINK_INVALID)

    # Secure change: the first verify only accepts, the second swaps the address.
    first = api.verify({"type": "email_change", "token_hash": new_token})
    assert first.status_code == 200
    assert first.json() == {
        "msg": "Confirmation link accepted. Please proceed to confirm link sent to the other email",
        "code": "200",
    }
    second = api.verify(
        {"type": "email_change", "email": "old@example.com", "token": current["email_otp"]}
    )
    assert second.status_code == 200, second.text
    user = second.json()["user"]
    assert user["email"] == "new@example.com"
    assert "new_email" not in user
    assert user["identities"][0]["identity_data"]["email"] == "new@example.com"
    assert api.sign_in("new@example.com").status_code == 200

    api.double.configure(secure_email_change_enabled=False)
    off = api.generate_link(
        {"type": "email_change_current", "email": "new@example.com", "new_email": "z@example.com"}
    )
    legacy(
        off,
        400,
        "validation_failed",
        "Enable secure email change to generate link for current email",
    )


# --- part 2 §2 verify -----------------------------------------------------------------------


def test_verify_by_otp_confirms_and_returns_a_session(api: LinkApi) -> None:
    link = api.link("signup", "otp@example.com", password=PASSWORD)
    response = api.verify(
        {"type": "signup", "email": "OTP@example.com", "token": link["email_otp"]}
    )
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
    assert re.fullmatch(r"[a-z2-7]{12}", body["refresh_token"])
    user = body["user"]
    assert TIMESTAMP.match(user["email_confirmed_at"])
    assert user["confirmed_at"] == user["email_confirmed_at"]
    assert "confirmation_sent_at" in user  # the time stays; the token is gone
    assert user["user_metadata"] == {"email_verified": True}
    assert user["identities"][0]["identity_data"]["email_verified"] is True
    assert TIMESTAMP.match(user["last_sign_in_at"])
    claims = segment(body["access_token"], 1)
    assert [entry["method"] for entry in claims["amr"]] == ["otp"]
    assert claims["aal"] == "aal1"
    assert api.http.get("/user", headers=api.user(body["access_token"])).status_code == 200
    assert api.refresh(body["refresh_token"]).status_code == 200
    # Single use, and the unconfirmed user can now sign in.
    again = api.verify({"type": "signup", "email": "otp@example.com", "token": link["email_otp"]})
    legacy(again, *OTP_INVALID)
    assert api.sign_in("otp@example.com").status_code == 200


def test_verify_by_token_hash_is_single_use(api: LinkApi) -> None:
    link = api.link("signup", "hash@example.com", password=PASSWORD)
    body = {"type": "signup", "token_hash": link["hashed_token"]}
    assert api.verify(body).status_code == 200
    legacy(api.verify(body), *LINK_INVALID)


def test_a_new_link_replaces_the_old_otp_and_hash(api: LinkApi) -> None:
    api.double.create_user_directly("twice@example.com", PASSWORD)
    first = api.link("recovery", "twice@example.com")
    second = api.link("recovery", "twice@example.com")
    legacy(
        api.verify({"type": "recovery", "email": "twice@example.com", "token": first["email_otp"]}),
        *OTP_INVALID,
    )
    legacy(api.verify({"type": "recovery", "token_hash": first["hashed_token"]}), *LINK_INVALID)
    ok = api.verify({"type": "recovery", "token_hash": second["hashed_token"]})
    assert ok.status_code == 200


def test_links_expire_after_the_otp_lifetime(api: LinkApi) -> None:
    api.double.configure(mailer_otp_exp=1)
    api.double.create_user_directly("late@example.com", PASSWORD)
    link = api.link("recovery", "late@example.com")
    time.sleep(1.2)
    legacy(
        api.verify({"type": "recovery", "email": "late@example.com", "token": link["email_otp"]}),
        *OTP_INVALID,
    )
    legacy(api.verify({"type": "recovery", "token_hash": link["hashed_token"]}), *LINK_INVALID)
    # A fresh link within the lifetime works.
    fresh = api.link("recovery", "late@example.com")
    assert api.verify({"type": "recovery", "token_hash": fresh["hashed_token"]}).status_code == 200


def test_wrong_tokens_and_unknown_addresses_look_the_same(api: LinkApi) -> None:
    api.double.create_user_directly("w@example.com", PASSWORD)
    link = api.link("recovery", "w@example.com")
    wrong = "000000" if link["email_otp"] != "000000" else "111111"
    for body in (
        {"type": "recovery", "email": "w@example.com", "token": wrong},
        {"type": "recovery", "email": "nobody@example.com", "token": link["email_otp"]},
        # The right OTP for the wrong slot.
        {"type": "signup", "email": "w@example.com", "token": link["email_otp"]},
        # Part 2 §2.1: an unknown type matches no slot in the email + OTP form.
        {"type": "bogus", "email": "w@example.com", "token": link["email_otp"]},
    ):
        legacy(api.verify(body), *OTP_INVALID)
    legacy(api.verify({"type": "signup", "token_hash": link["hashed_token"]}), *LINK_INVALID)


def test_verify_refuses_banned_users(api: LinkApi) -> None:
    user = api.double.create_user_directly("ban@example.com", PASSWORD, email_confirm=False)
    link = api.link("signup", "ban@example.com", password="x")
    api.double.ban_user(user["id"], "1h")
    banned = (403, "user_banned", "User is banned")
    legacy(api.verify({"type": "signup", "token_hash": link["hashed_token"]}), *banned)
    # The ban is checked before the token.
    legacy(api.verify({"type": "signup", "email": "ban@example.com", "token": "999999"}), *banned)
    api.double.ban_user(user["id"], "none")
    assert api.verify({"type": "signup", "token_hash": link["hashed_token"]}).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "msg"),
    [
        ({"token_hash": "x"}, 400, "Verify requires a verification type"),
        ({"type": "signup"}, 400, "Verify requires either a token or a token hash"),
        (
            {"type": "signup", "token": "1", "token_hash": "x"},
            400,
            "Verify requires either a token or a token hash",
        ),
        (
            {"type": "signup", "token": "1"},
            400,
            "Only an email address or phone number should be provided on verify",
        ),
        (
            {"type": "signup", "token": "1", "email": "a@example.com", "phone": "15550001111"},
            400,
            "Only an email address or phone number should be provided on verify",
        ),
        ({"type": "signup", "token": "1", "email": "nope"}, 422, "Invalid email format"),
        (
            {"type": "signup", "token_hash": "x", "email": "a@example.com"},
            400,
            "Only the token_hash and type should be provided",
        ),
        (
            {"type": "signup", "token_hash": "x", "redirect_to": SITE_URL},
            400,
            "Only the token_hash and type should be provided",
        ),
        ({"type": "sms", "token_hash": "x"}, 400, "Invalid email verification type"),
        ({"type": "bogus", "token_hash": "x"}, 400, "Invalid email verification type"),
        # The type is checked first, even with a bad email.
        ({"email": "nope", "token": "1"}, 400, "Verify requires a verification type"),
    ],
)
def test_verify_validation(api: LinkApi, body: dict[str, Any], status: int, msg: str) -> None:
    legacy(api.verify(body), status, "validation_failed", msg)


def test_verify_is_an_open_route_and_parses_json(api: LinkApi) -> None:
    # Part 1 §1: no apikey needed for /verify.
    no_key = api.http.post("/verify", json={"type": "signup", "token_hash": "x"})
    legacy(no_key, *LINK_INVALID)
    bad = api.http.post("/verify", content=b"[", headers=api.anon())
    assert bad.json()["error_code"] == "bad_json"


def test_email_type_matches_either_slot(api: LinkApi) -> None:
    signup = api.link("signup", "e1@example.com", password=PASSWORD)
    body = api.verify({"type": "email", "token_hash": signup["hashed_token"]}).json()
    assert "email_confirmed_at" in body["user"]
    api.double.create_user_directly("e2@example.com", PASSWORD)
    magic = api.link("magiclink", "e2@example.com")
    ok = api.verify({"type": "email", "email": "e2@example.com", "token": magic["email_otp"]})
    assert ok.status_code == 200, ok.text
    legacy(api.verify({"type": "email", "token_hash": magic["hashed_token"]}), *LINK_INVALID)


def test_recovery_verify_confirms_but_keeps_the_password(api: LinkApi) -> None:
    api.double.create_user_directly(
        "rec@example.com", PASSWORD, email_confirm=False, phone_confirm=False
    )
    link = api.link("recovery", "rec@example.com")
    response = api.verify({"type": "recovery", "token_hash": link["hashed_token"]})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["user_metadata"] == {"email_verified": True}
    assert "recovery_sent_at" in response.json()["user"]
    assert api.sign_in("rec@example.com").status_code == 200  # the old password still works


def test_get_verify_redirects_with_the_session_or_the_error(api: LinkApi) -> None:
    api.double.create_user_directly("get@example.com", PASSWORD)
    link = api.link("magiclink", "get@example.com")
    response = api.http.get(link["action_link"])  # no apikey: an open route
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == SITE_URL
    assert target.fragment.endswith("&sb=")
    fragment = parse_qs(target.fragment, keep_blank_values=True)
    assert fragment["type"] == ["magiclink"]
    assert fragment["token_type"] == ["bearer"]
    access = fragment["access_token"][0]
    assert api.http.get("/user", headers=api.user(access)).status_code == 200
    again = api.http.get(link["action_link"])
    assert again.status_code == 303
    assert urlsplit(again.headers["location"]).fragment == (
        "error=access_denied&error_code=otp_expired"
        "&error_description=Email+link+is+invalid+or+has+expired&sb="
    )
    missing = api.http.get("/verify?token=x")
    legacy(missing, 400, "validation_failed", "Verify requires a verification type")


def test_verify_rate_limit_per_forwarded_ip(api: LinkApi) -> None:
    api.double.set_rate_limit(2, limiter="verify")
    body = {"type": "signup", "token_hash": "x"}
    ip = {"X-Forwarded-For": "10.0.0.1"}
    for _ in range(2):
        legacy(api.verify(body, **ip), *LINK_INVALID)
    limited = api.verify(body, **ip)
    legacy(limited, 429, "over_request_rate_limit", "Request rate limit reached")
    legacy(api.verify(body, **{"X-Forwarded-For": "10.0.0.2"}), *LINK_INVALID)
    # The /token limiter is separate.
    assert api.sign_in("nobody@example.com", **ip).status_code == 400


# --- part 2 §4 PUT /user --------------------------------------------------------------------


def test_update_user_checks(api: LinkApi) -> None:
    token = api.session("me@example.com")["access_token"]
    api.double.create_user_directly("other@example.com", PASSWORD)
    legacy(
        api.http.put("/user", json={}, headers=api.anon()),
        403,
        "bad_jwt",
        "invalid claim: missing sub claim",
    )
    legacy(
        api.update(token, {"email": "nope"}),
        400,
        "validation_failed",
        "Unable to validate email address: invalid format",
    )
    for password in ("", "short"):
        weak = api.update(token, {"password": password})
        legacy(weak, 422, "weak_password", "Password should be at least 6 characters.")
        assert weak.json()["weak_password"] == {"reasons": ["length"]}
    # The policy comes before the app_metadata check.
    legacy(
        api.update(token, {"password": "short", "app_metadata": {"role": "x"}}),
        422,
        "weak_password",
        "Password should be at least 6 characters.",
    )
    legacy(
        api.update(token, {"app_metadata": {"role": "x"}}),
        403,
        "not_admin",
        "Updating app_metadata requires admin privileges",
    )
    legacy(
        api.update(token, {"email": "other@example.com"}),
        422,
        "email_exists",
        "A user with this email address has already been registered",
    )
    legacy(
        api.update(token, {"password": PASSWORD}),
        422,
        "same_password",
        "New password should be different from the old password.",
    )


def test_update_user_merges_data(api: LinkApi) -> None:
    session = api.session("data@example.com")
    token = session["access_token"]
    first = api.update(token, {"data": {"a": 1, "b": 2}})
    assert first.status_code == 200, first.text
    verified = {"email_verified": True, "phone_verified": True}  # create_user_directly's
    assert first.json()["user_metadata"] == {"a": 1, "b": 2, **verified}
    second = api.update(token, {"data": {"a": None, "c": {"d": 1}}}).json()
    assert second["user_metadata"] == {"b": 2, "c": {"d": 1}, **verified}
    assert second["id"] == session["user"]["id"]
    # Admins (role "admin") may set app_metadata.
    api.double.create_user_directly("boss@example.com", PASSWORD, role="admin")
    boss = api.sign_in("boss@example.com").json()["access_token"]
    changed = api.update(boss, {"app_metadata": {"tier": "gold", "provider": None}}).json()
    assert changed["app_metadata"] == {"providers": ["email"], "tier": "gold"}


def test_password_change_ends_other_sessions_and_clears_pending_tokens(api: LinkApi) -> None:
    mine = api.session("pw@example.com")
    other = api.sign_in("pw@example.com").json()
    link = api.link("recovery", "pw@example.com")
    response = api.update(mine["access_token"], {"password": NEW_PASSWORD})
    assert response.status_code == 200, response.text
    assert "recovery_sent_at" not in response.json()
    # The other session is gone: its access token and refresh token stop working.
    legacy(
        api.refresh(other["refresh_token"]),
        400,
        "refresh_token_not_found",
        "Invalid Refresh Token: Refresh Token Not Found",
    )
    gone = api.http.get("/user", headers=api.user(other["access_token"]))
    assert gone.json()["error_code"] == "session_not_found"
    # The caller's session survives.
    assert api.refresh(mine["refresh_token"]).status_code == 200
    assert api.http.get("/user", headers=api.user(mine["access_token"])).status_code == 200
    # The pending recovery token is cleared.
    legacy(api.verify({"type": "recovery", "token_hash": link["hashed_token"]}), *LINK_INVALID)
    # The new password signs in, the old one no longer does.
    assert api.sign_in("pw@example.com", NEW_PASSWORD).status_code == 200
    assert api.sign_in("pw@example.com").status_code == 400


def test_recovery_flow_sets_a_new_password_from_the_verify_session(api: LinkApi) -> None:
    old = api.session("flow@example.com")
    link = api.link("recovery", "flow@example.com")
    session = api.verify(
        {"type": "recovery", "email": "flow@example.com", "token": link["email_otp"]}
    ).json()
    updated = api.update(session["access_token"], {"password": NEW_PASSWORD})
    assert updated.status_code == 200, updated.text
    assert api.refresh(old["refresh_token"]).json()["error_code"] == "refresh_token_not_found"
    assert api.refresh(session["refresh_token"]).status_code == 200


def test_update_user_email_change_and_its_frequency_limit(api: LinkApi) -> None:
    token = api.session("from@example.com")["access_token"]
    response = api.update(token, {"email": "To@example.com"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["email"], body["new_email"]) == ("from@example.com", "to@example.com")
    assert TIMESTAMP.match(body["email_change_sent_at"])
    again = api.update(token, {"email": "to@example.com"})
    assert again.status_code == 429
    assert again.json()["error_code"] == "over_email_send_rate_limit"
    assert re.fullmatch(
        r"For security purposes, you can only request this after \d+ seconds\.",
        again.json()["msg"],
    )
    (mail,) = api.double.mail()
    first = api.verify(
        {"type": "email_change", "email": "to@example.com", "token": mail["otp_new"]}
    )
    assert first.json()["code"] == "200"
    second = api.verify(
        {"type": "email_change", "email": "from@example.com", "token": mail["otp_current"]}
    )
    assert second.json()["user"]["email"] == "to@example.com"


def test_update_user_otp_rate_limit(api: LinkApi) -> None:
    token = api.session()["access_token"]
    api.double.set_rate_limit(1, limiter="otp")
    ip = {"X-Forwarded-For": "10.0.0.9"}
    assert api.update(token, {"data": {"a": 1}}, **ip).status_code == 200
    legacy(
        api.update(token, {"data": {"a": 2}}, **ip),
        429,
        "over_request_rate_limit",
        "Request rate limit reached",
    )
