"""JWKS, OpenID configuration and health (reference §3.6, §3.7)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..config import GOTRUE_VERSION
from ..state import DoubleState


async def jwks(request: Request, state: DoubleState) -> Response:
    # Reference §3.6: public keys only; `{"keys": []}` with only the HS256 secret.
    return JSONResponse(state.keys.jwks(), headers={"Cache-Control": "public, max-age=600"})


async def openid_configuration(request: Request, state: DoubleState) -> Response:
    """Reference §3.6 names `issuer` and `jwks_uri = <issuer>/.well-known/jwks.json`; the other
    members are the usual OIDC discovery fields for GoTrue's endpoints (not in the reference).
    With `iss` omitted from tokens, the double still advertises its own auth URL."""
    issuer = state.settings.issuer or f"{state.config.base_url}/auth/v1"
    return JSONResponse(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "userinfo_endpoint": f"{issuer}/user",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [
                "ES256" if state.config.mode == "es256" else "HS256"
            ],
        }
    )


async def health(request: Request, state: DoubleState) -> Response:
    # Reference §3.7: no database check, just the process.
    return JSONResponse(
        {
            "version": GOTRUE_VERSION,
            "name": "GoTrue",
            "description": "GoTrue is a user registration and authentication API",
        }
    )
