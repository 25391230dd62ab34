"""Signing keys, the JWKS, and GoTrue's way of verifying incoming JWTs (reference §3.6, §4)."""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey

from .config import Mode, octet_key


class JWTInvalid(Exception):
    """Carries golang-jwt's error text, which GoTrue appends to its `bad_jwt` message."""


def _new_ec_key() -> ECKey:
    # Hosted projects use UUIDs as key ids.
    return ECKey.generate_key(
        "P-256", {"kid": str(uuid.uuid4()), "alg": "ES256", "use": "sig"}, private=True
    )


def _b64_json(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JWTInvalid(f"token is malformed: could not base64 decode {what}") from exc
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise JWTInvalid(f"token is malformed: could not JSON decode {what}: {exc}") from exc
    if not isinstance(value, dict):
        raise JWTInvalid(f"token is malformed: could not JSON decode {what}")
    return value


class KeyManager:
    """es256 mode: an ES256 sign+verify key plus the JWT secret as a verify-only HS256 key, as
    in supabase/auth hack/test_asymmetric.env (reference §4, §7). hs256 mode: the secret only."""

    def __init__(self, mode: Mode, secret: str) -> None:
        self.mode = mode
        self.secret = octet_key(secret)
        self._initial: ECKey | None = _new_ec_key() if mode == "es256" else None
        self.reset()

    def reset(self) -> None:
        """Back to the start-up key, so JWKS caches from earlier tests stay valid."""
        self.signing: ECKey | None = self._initial
        self.retired: list[ECKey] = []

    def rotate(self, keep_old: bool) -> str:
        if self.signing is None:
            raise ValueError("hs256 mode has no asymmetric key to rotate")
        if keep_old:
            self.retired.insert(0, self.signing)
        self.signing = _new_ec_key()
        return str(self.signing.kid)

    @property
    def signing_kid(self) -> str | None:
        return None if self.signing is None else str(self.signing.kid)

    def _ec_keys(self) -> list[ECKey]:
        return ([self.signing] if self.signing else []) + self.retired

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """Reference §3.6: public keys only, each with kty, kid, alg, use "sig",
        key_ops ["verify"] and crv/x/y; symmetric keys are never listed."""
        keys = []
        for key in self._ec_keys():
            public = key.as_dict(private=False)
            keys.append(
                {
                    "kty": public["kty"],
                    "kid": public["kid"],
                    "alg": "ES256",
                    "use": "sig",
                    "key_ops": ["verify"],
                    "crv": public["crv"],
                    "x": public["x"],
                    "y": public["y"],
                }
            )
        return {"keys": keys}

    def sign_access_token(self, claims: dict[str, Any]) -> str:
        """Reference §4: `kid` only for keys that have one (the asymmetric key); the legacy
        secret signs without it. Header members in golang-jwt's (sorted) order."""
        if self.signing is not None:
            header = {"alg": "ES256", "kid": str(self.signing.kid), "typ": "JWT"}
            return jwt.encode(header, claims, self.signing, default_type=None)
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self.secret, default_type=None)

    def sign_custom(self, claims: dict[str, Any], alg: str, kid: str | None, foreign: bool) -> str:
        """For tests: mint any token, optionally with a key the double does not know."""
        if alg == "none":
            head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=")
            payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
            return f"{head.decode()}.{payload.decode()}."
        key: ECKey | OctKey
        if alg == "HS256":
            key = octet_key(str(uuid.uuid4())) if foreign else self.secret
        elif alg == "ES256":
            if foreign:
                key = _new_ec_key()
            elif self.signing is not None:
                key = self.signing
            else:
                raise ValueError("hs256 mode has no ES256 key; pass foreign=true")
        else:
            raise ValueError(f"unsupported alg {alg!r}")
        header = {"alg": alg, "typ": "JWT"}
        if kid is not None:
            header["kid"] = kid
        return jwt.encode(header, claims, key, default_type=None)

    def verify(self, token: str) -> dict[str, Any]:
        """GoTrue's parseJWTClaims (reference §4 "How GoTrue verifies incoming JWTs"): allowed
        algorithms are those of the configured keys; a matching `kid` selects the key; an HS256
        token without `kid` falls back to the secret; only signature and time claims are checked.
        Error texts follow golang-jwt v5, which GoTrue appends to its message (reference §3.1)."""
        parts = token.split(".")
        if len(parts) != 3:
            raise JWTInvalid("token is malformed: token contains an invalid number of segments")
        header = _b64_json(parts[0], "header")
        claims = _b64_json(parts[1], "claim")
        alg = header.get("alg")
        allowed = ["ES256", "HS256"] if self.mode == "es256" else ["HS256"]
        if alg not in allowed:
            raise JWTInvalid(f"token signature is invalid: signing method {alg} is invalid")

        key: ECKey | OctKey
        kid = header.get("kid")
        if kid is not None:
            match = [k for k in self._ec_keys() if k.kid == kid]
            if not match:
                raise JWTInvalid(
                    f"token is unverifiable: error while executing keyfunc: invalid kid: {kid}"
                )
            key = match[0]
        elif alg == "HS256":
            key = self.secret
        else:
            raise JWTInvalid("token is unverifiable: error while executing keyfunc: missing kid")

        try:
            jwt.decode(token, key, algorithms=[str(alg)])
        except JoseError as exc:
            # golang-jwt's verifier errors: ErrSignatureInvalid (HMAC), ErrECDSAVerification.
            detail = (
                "signature is invalid" if alg == "HS256" else "crypto/ecdsa: verification error"
            )
            raise JWTInvalid(f"token signature is invalid: {detail}") from exc

        now = time.time()
        for claim in ("exp", "nbf"):
            value = claims.get(claim)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not numeric:
                raise JWTInvalid(f"token is malformed: could not JSON decode claim: {claim}")
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if exp is not None and now >= exp:
            raise JWTInvalid("token has invalid claims: token is expired")
        if nbf is not None and now < nbf:
            raise JWTInvalid("token has invalid claims: token is not valid yet")
        return claims
