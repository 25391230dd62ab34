"""Access token issuing and verification: every way a token can be wrong is a 401."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from joserfc import jwe, jws, jwt
from joserfc.jwk import ECKey, KeyParameters, OctKey, RSAKey

from auth_backend.domain import UserAccount
from auth_backend.errors import InvalidToken
from auth_backend.security.tokens import (
    AccessTokenIssuer,
    AccessTokenVerifier,
    UnknownKeyId,
    generate_signing_key,
    public_jwk,
    resolver_for,
)

ISSUER = "https://auth.example.test"
SIGNING_KEY = generate_signing_key()
RESOLVE = resolver_for({SIGNING_KEY.kid or "": SIGNING_KEY})
VERIFIER = AccessTokenVerifier(issuer=ISSUER)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def user() -> UserAccount:
    now = datetime.now(UTC)
    return UserAccount(
        id=uuid.uuid4(),
        email="ada@example.com",
        role="authenticated",
        aud="authenticated",
        email_confirmed_at=now,
        created_at=now,
        updated_at=now,
        last_sign_in_at=now,
        user_metadata={"name": "Ada"},
        app_metadata={"provider": "email", "providers": ["email"]},
    )


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(uuid.uuid4()),
        "aud": "authenticated",
        "exp": now + 600,
        "iat": now,
        "email": "ada@example.com",
        "role": "authenticated",
        "session_id": str(uuid.uuid4()),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = SIGNING_KEY, **header: Any) -> str:
    full_header = {"alg": "ES256", "kid": SIGNING_KEY.kid, "typ": "JWT", **header}
    return jwt.encode(full_header, payload, key, algorithms=[full_header["alg"]])


def verify(token: str) -> Any:
    return VERIFIER.verify(token, RESOLVE, ("ES256",))


def test_issued_tokens_verify_and_carry_supabase_shaped_claims() -> None:
    account = user()
    session_id = uuid.uuid4()
    issued = AccessTokenIssuer(SIGNING_KEY, ISSUER, 900).issue(
        account, session_id, int(time.time())
    )
    verified = verify(issued.token)
    assert verified.subject == account.id
    assert verified.session_id == str(session_id)
    assert verified.user_metadata == {"name": "Ada"}
    assert verified.expires_at == issued.expires_at == issued.issued_at + 900
    decoded = jwt.decode(issued.token, SIGNING_KEY, algorithms=["ES256"])
    assert decoded.header == {"alg": "ES256", "kid": SIGNING_KEY.kid, "typ": "JWT"}
    assert list(decoded.claims) == [
        "iss", "sub", "aud", "exp", "iat", "email", "phone", "app_metadata",
        "user_metadata", "role", "aal", "amr", "session_id", "is_anonymous",
    ]  # fmt: skip
    assert decoded.claims["amr"] == [{"method": "password", "timestamp": issued.issued_at}]


def test_issued_tokens_are_byte_for_byte_what_joserfc_signs() -> None:
    # The issuer assembles the JWS itself (it runs on the event loop at every login).
    account = replace(user(), email="zoë@example.com", user_metadata={"name": "Zoë ✓"})
    issued = AccessTokenIssuer(SIGNING_KEY, ISSUER, 900).issue(account, uuid.uuid4(), 1_700_000_000)
    header_segment, payload_segment, _signature = issued.token.split(".")
    claims = jwt.decode(issued.token, SIGNING_KEY, algorithms=["ES256"]).claims
    header = {"alg": "ES256", "kid": SIGNING_KEY.kid, "typ": "JWT"}
    reference = jwt.encode(header, claims, SIGNING_KEY, algorithms=["ES256"])
    # ECDSA signatures are randomised; what they sign is the same bytes.
    assert reference.split(".")[:2] == [header_segment, payload_segment]


def test_a_token_without_iss_is_accepted_as_supabase_omits_it() -> None:
    assert verify(sign(claims(iss=None))).email == "ada@example.com"


def test_expiry_within_the_clock_leeway_is_accepted() -> None:
    verify(sign(claims(exp=int(time.time()) - 5)))


SAME_KID = cast("KeyParameters", {"kid": SIGNING_KEY.kid})
OTHER_EC_KEY = ECKey.generate_key("P-256", parameters=SAME_KID, private=True)
RSA_KEY = RSAKey.generate_key(2048, parameters=SAME_KID, private=True)
# Algorithm confusion: an HMAC keyed with the bytes of our public key.
PUBLIC_KEY_AS_SECRET = OctKey.import_key(json.dumps(public_jwk(SIGNING_KEY)).encode())


def _none_alg_token() -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."


def _hs256_with_public_key() -> str:
    registry = jws.JWSRegistry(algorithms=["HS256"])
    header = {"alg": "HS256", "kid": SIGNING_KEY.kid, "typ": "JWT"}
    return jws.serialize_compact(
        header, json.dumps(claims()).encode(), PUBLIC_KEY_AS_SECRET, registry=registry
    )


def _jwe_token() -> str:
    key = OctKey.generate_key(256)
    return jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, json.dumps(claims()).encode(), key)


def _crit_token() -> str:
    # Built by hand: joserfc itself refuses to sign a header with an unknown critical member.
    header = {"alg": "ES256", "kid": SIGNING_KEY.kid, "crit": ["exp-policy"], "exp-policy": 1}
    signing_input = f"{b64(header)}.{b64(claims())}"
    algorithm = jws.JWSRegistry.algorithms["ES256"]
    signature = algorithm.sign(signing_input.encode(), SIGNING_KEY)
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


BAD_TOKENS = {
    "expired": lambda: sign(claims(exp=int(time.time()) - 120)),
    "not yet valid": lambda: sign(claims(nbf=int(time.time()) + 600)),
    "issued in the future": lambda: sign(claims(iat=int(time.time()) + 600)),
    "wrong audience": lambda: sign(claims(aud="service_role")),
    "missing audience": lambda: sign(claims(aud=None)),
    "wrong issuer": lambda: sign(claims(iss="https://evil.example")),
    "missing subject": lambda: sign(claims(sub=None)),
    "subject is not a user id": lambda: sign(claims(sub="admin")),
    "missing expiry": lambda: sign(claims(exp=None)),
    "alg none": _none_alg_token,
    "HS256 keyed with our public key": _hs256_with_public_key,
    "RS256, not allowed": lambda: sign(claims(), RSA_KEY, alg="RS256"),
    "signed by another key with our kid": lambda: sign(claims(), OTHER_EC_KEY),
    "JWE": _jwe_token,
    "unknown critical header": _crit_token,
    "oversized": lambda: sign(claims(padding="x" * 9000)),
    "garbage": lambda: "not.a.token",
    "two segments": lambda: "abc.def",
}


@pytest.mark.parametrize("make_token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_bad_tokens_are_rejected(make_token: Any) -> None:
    with pytest.raises(InvalidToken):
        verify(make_token())


def test_unknown_kid_is_reported_so_keys_can_be_refreshed() -> None:
    stranger = ECKey.generate_key("P-256", parameters={"kid": "someone-else"}, private=True)
    with pytest.raises(UnknownKeyId):
        verify(sign(claims(), stranger, kid="someone-else"))


def test_the_hand_built_crit_token_differs_only_by_its_crit_header() -> None:
    # Guards the table above: the same construction without `crit` verifies.
    header = {"alg": "ES256", "kid": SIGNING_KEY.kid}
    signing_input = f"{b64(header)}.{b64(claims())}"
    signature = jws.JWSRegistry.algorithms["ES256"].sign(signing_input.encode(), SIGNING_KEY)
    verify(f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}")
