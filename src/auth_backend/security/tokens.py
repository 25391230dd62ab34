"""Access tokens: issuing (local provider) and verifying (both providers).

Tokens are compact JWS. Verification fails closed: any parsing, signature or claim problem is
an InvalidToken, and the algorithms a key may be used with are fixed by the caller, never
taken from the token.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, GuestProtocol, Key

from auth_backend.domain import AccessClaims, UserAccount
from auth_backend.errors import InvalidToken

ACCESS_TOKEN_AUDIENCE = "authenticated"
# Real access tokens are well under 4 KiB; refusing larger ones before parsing bounds the
# work an attacker can make us do per request.
MAX_TOKEN_BYTES = 8192
# Tolerated clock skew between this service, the issuer and the verifying replicas.
CLOCK_LEEWAY_SECONDS = 30
LOCAL_SIGNING_ALGORITHM = "ES256"


class UnknownKeyId(InvalidToken):
    """The token names a key we do not hold (yet): the caller may refresh its keys once."""


KeyResolver = Callable[[GuestProtocol], Key]


def generate_signing_key() -> ECKey:
    return ECKey.generate_key(
        "P-256",
        parameters={"kid": secrets.token_hex(8), "alg": LOCAL_SIGNING_ALGORITHM, "use": "sig"},
        private=True,
    )


def public_jwk(key: Key) -> dict[str, Any]:
    jwk = key.as_dict(private=False)
    jwk["key_ops"] = ["verify"]
    return jwk


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    issued_at: int
    expires_at: int


class AccessTokenIssuer:
    """Signs access tokens whose claims are shaped like Supabase's (docs/verifying-tokens.md).

    Every login signs one, on the event loop, so the compact JWS is put together here from
    parts prepared once (the encoded header, the key's ECDSA signer) instead of through
    `joserfc.jwt.encode`, which re-checks the header and key and converts the claims on every
    call, about twice the cost of the signature itself. The bytes are the same as joserfc's:
    JSON without spaces, base64url without padding, and the signature as r || s (RFC 7518
    section 3.4); tests/unit/test_tokens.py holds it to that.
    """

    def __init__(self, signing_key: ECKey, issuer: str, ttl_seconds: int) -> None:
        private_key = signing_key.private_key
        if private_key is None or signing_key.curve_name != "P-256":
            raise ValueError(f"{LOCAL_SIGNING_ALGORITHM} signs with a private P-256 key")
        self._private_key = private_key
        header = {"typ": "JWT", "alg": LOCAL_SIGNING_ALGORITHM, "kid": signing_key.kid}
        self._header_segment = _b64url(json.dumps(header, separators=(",", ":")).encode())
        self._ecdsa = ec.ECDSA(hashes.SHA256())
        self._issuer = issuer
        self.ttl_seconds = ttl_seconds

    def issue(self, user: UserAccount, session_id: UUID, now: int) -> IssuedToken:
        expires_at = now + self.ttl_seconds
        claims = {
            "iss": self._issuer,
            "sub": str(user.id),
            "aud": user.aud,
            "exp": expires_at,
            "iat": now,
            "email": user.email,
            "phone": "",
            "app_metadata": user.app_metadata,
            "user_metadata": user.user_metadata,
            "role": user.role,
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}],
            "session_id": str(session_id),
            "is_anonymous": False,
        }
        payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
        signing_input = self._header_segment + b"." + _b64url(payload)
        r, s = decode_dss_signature(self._private_key.sign(signing_input, self._ecdsa))
        signature = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        token = (signing_input + b"." + _b64url(signature)).decode("ascii")
        return IssuedToken(token=token, issued_at=now, expires_at=expires_at)


_P256_BYTES = 32


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def resolver_for(keys_by_kid: Mapping[str, Key]) -> KeyResolver:
    def resolve(guest: GuestProtocol) -> Key:
        kid = guest.headers().get("kid")
        if not isinstance(kid, str) or kid not in keys_by_kid:
            raise UnknownKeyId("The access token was signed with an unknown key.")
        return keys_by_kid[kid]

    return resolve


class AccessTokenVerifier:
    """Checks signature, algorithm allow-list, exp/nbf/iat (with leeway), aud, iss and sub."""

    def __init__(self, *, issuer: str | None, audience: str = ACCESS_TOKEN_AUDIENCE) -> None:
        options: dict[str, Any] = {
            "exp": {"essential": True},
            "sub": {"essential": True},
            "aud": {"essential": True, "value": audience},
        }
        if issuer is not None:
            # Supabase omits iss unless configured, so it is checked only when present.
            options["iss"] = {"essential": False, "value": issuer}
        self._registry = jwt.JWTClaimsRegistry(leeway=CLOCK_LEEWAY_SECONDS, **options)
        self._audience = audience

    def verify(
        self, token: str, key: Key | KeyResolver, algorithms: Collection[str]
    ) -> AccessClaims:
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("The access token is too large.")
        try:
            decoded = jwt.decode(token, key, algorithms=list(algorithms))
            self._registry.validate(decoded.claims)
        except InvalidToken:
            raise
        except JoseError as error:
            raise InvalidToken(_describe(error)) from None
        except (ValueError, TypeError, KeyError):
            raise InvalidToken("The access token is malformed.") from None
        return self._to_access_claims(decoded.claims)

    def _to_access_claims(self, claims: Mapping[str, Any]) -> AccessClaims:
        try:
            subject = UUID(str(claims["sub"]))
        except ValueError:
            raise InvalidToken("The access token's subject is not a user id.") from None
        session_id = claims.get("session_id")
        return AccessClaims(
            subject=subject,
            email=_string(claims.get("email")),
            role=_string(claims.get("role")) or "authenticated",
            audience=self._audience,
            session_id=session_id if isinstance(session_id, str) else None,
            expires_at=int(claims["exp"]),
            user_metadata=_object(claims.get("user_metadata")),
            app_metadata=_object(claims.get("app_metadata")),
        )


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _describe(error: JoseError) -> str:
    # Name the failure class so integrators can debug, without echoing any token content.
    descriptions = {
        "expired_token": "The access token has expired.",
        "bad_signature": "The access token's signature is not valid.",
        "invalid_claim": "The access token's claims are not valid here.",
        "missing_claim": "The access token lacks a required claim.",
        "unsupported_algorithm": "The access token uses an algorithm that is not accepted.",
    }
    return descriptions.get(error.error, "The access token is not valid.")
