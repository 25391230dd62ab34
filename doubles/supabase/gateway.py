"""The API gateway in front of GoTrue: key-auth and the Authorization rewrite (reference §1)."""

from __future__ import annotations

import time

from joserfc import jwt
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from .config import DoubleConfig, octet_key
from .errors import gateway_invalid_api_key, gateway_no_api_key

# Reference §1: routes Kong serves without key-auth. The double implements JWKS and /verify
# (reference part 2 §2); the others still skip the key check and then reach GoTrue's 404.
OPEN_ROUTES = frozenset({"/verify", "/callback", "/authorize", "/.well-known/jwks.json"})


def _role_of(config: DoubleConfig, apikey: str) -> str | None:
    """Reference §1: only the `anon` and `service_role` consumers pass, matched on the legacy
    JWT keys or the opaque `sb_publishable_…` / `sb_secret_…` keys."""
    if apikey in (config.anon_key, config.publishable_key):
        return "anon"
    if apikey in (config.service_key, config.secret_key):
        return "service_role"
    return None


def _internal_jwt(config: DoubleConfig, role: str) -> str:
    """Reference §1: Kong turns an opaque key into an internal JWT. Its exact claims are not
    documented; the double signs {iss, role, iat, exp} with the JWT secret, which GoTrue
    accepts in both modes (reference §4: HS256 without kid falls back to the secret)."""
    now = int(time.time())
    return jwt.encode(
        {"alg": "HS256", "typ": "JWT"},
        {"iss": "supabase", "role": role, "iat": now, "exp": now + 3600},
        octet_key(config.jwt_secret),
        default_type=None,
    )


def authorize_request(
    config: DoubleConfig, path: str, headers: Headers
) -> JSONResponse | str | None:
    """Run key-auth for `path` (the part after `/auth/v1`).

    Returns the gateway's 401 response, or the Authorization value GoTrue should see
    (None = no header)."""
    authorization = headers.get("authorization")
    if path in OPEN_ROUTES:
        return authorization
    apikey = headers.get("apikey")
    if apikey is None:
        return gateway_no_api_key()
    role = _role_of(config, apikey)
    if role is None:
        return gateway_invalid_api_key()
    # Reference §1: an Authorization header that does not start with `Bearer sb_` is kept
    # (so a user JWT beats a service apikey); otherwise it is derived from apikey.
    if authorization is not None and not authorization.startswith("Bearer sb_"):
        return authorization
    if apikey.startswith("sb_"):
        return f"Bearer {_internal_jwt(config, role)}"
    return f"Bearer {apikey}"
