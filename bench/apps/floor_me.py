"""Floor: bare Starlette `GET /me` verifying the service's own ES256 tokens with PyJWT.

The same checks as the service (ES256 only, key by `kid`, `aud`, `iss`, required `exp` and
`sub`, 30 s leeway) and the same response shape (the user built from the claims), with no
framework, middleware or cache around it. BENCH_JWKS is the service's /.well-known/jwks.json.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

UNAUTHORIZED = Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})


def create_app() -> Starlette:
    jwks = json.loads(os.environ["BENCH_JWKS"])
    issuer = os.environ["BENCH_ISSUER"]
    keys = {jwk["kid"]: jwt.PyJWK(jwk, algorithm="ES256") for jwk in jwks["keys"]}

    async def me(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return UNAUTHORIZED
        try:
            key = keys[jwt.get_unverified_header(token)["kid"]]
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["ES256"],
                audience="authenticated",
                issuer=issuer,
                leeway=30,
                options={"require": ["exp", "sub"]},
            )
        except (jwt.InvalidTokenError, KeyError):
            return UNAUTHORIZED
        user = {
            "id": claims["sub"],
            "email": claims.get("email", ""),
            "role": claims.get("role", "authenticated"),
            "aud": "authenticated",
            "email_confirmed_at": None,
            "created_at": None,
            "updated_at": None,
            "last_sign_in_at": None,
            "user_metadata": claims.get("user_metadata") or {},
            "app_metadata": claims.get("app_metadata") or {},
        }
        return Response(json.dumps(user, separators=(",", ":")), media_type="application/json")

    return Starlette(routes=[Route("/me", me, methods=["GET"])])
