"""The access-token issuer assembles the JWS itself (for speed); it must stay what joserfc
would produce, and verify."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

from joserfc import jwt

from auth_backend.domain import UserAccount
from auth_backend.security.tokens import (
    LOCAL_SIGNING_ALGORITHM,
    AccessTokenIssuer,
    AccessTokenVerifier,
    generate_signing_key,
    resolver_for,
)

ISSUER = "http://127.0.0.1:8080/auth/v1"


def _user() -> UserAccount:
    now = datetime.now(UTC)
    return UserAccount(
        id=uuid.uuid4(),
        email="zoë@example.com",
        role="authenticated",
        aud="authenticated",
        email_confirmed_at=now,
        created_at=now,
        updated_at=now,
        last_sign_in_at=now,
        user_metadata={"name": "Zoë ✓", "nested": {"a": [1, 2]}},
        app_metadata={"provider": "email", "providers": ["email"]},
    )


def test_issued_tokens_are_what_joserfc_signs_and_verify() -> None:
    key = generate_signing_key()
    issued = AccessTokenIssuer(key, ISSUER, 3600).issue(_user(), uuid.uuid4(), 1_700_000_000)
    header_segment, payload_segment, _signature = issued.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload_segment + "=="))
    header = {"alg": LOCAL_SIGNING_ALGORITHM, "kid": key.kid, "typ": "JWT"}
    reference = jwt.encode(header, claims, key, algorithms=[LOCAL_SIGNING_ALGORITHM])
    # ECDSA signatures are randomised; everything they sign is byte for byte the same.
    assert reference.split(".")[:2] == [header_segment, payload_segment]
    decoded = jwt.decode(issued.token, key, algorithms=[LOCAL_SIGNING_ALGORITHM])
    assert decoded.claims == claims
    assert issued.expires_at - issued.issued_at == 3600


def test_issued_tokens_pass_the_verifier() -> None:
    key = generate_signing_key()
    user = _user()
    session_id = uuid.uuid4()
    now = int(datetime.now(UTC).timestamp())
    token = AccessTokenIssuer(key, ISSUER, 3600).issue(user, session_id, now).token
    claims = AccessTokenVerifier(issuer=ISSUER).verify(
        token, resolver_for({key.kid or "": key}), (LOCAL_SIGNING_ALGORITHM,)
    )
    assert claims.subject == user.id
    assert claims.session_id == str(session_id)
    assert claims.user_metadata == user.user_metadata
