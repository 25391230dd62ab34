"""Handlers of the `operations` tag: getHealth, getJwks."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from auth_backend.api.context import provider_of
from auth_backend.api.responses import model_response
from auth_backend.models import Health, JsonWebKeySet

_HEALTH_BODY = Health(status="ok").model_dump_json().encode()
JWKS_MAX_AGE_SECONDS = 600


async def get_health() -> Response:
    # Liveness only: it must answer even when every dependency is down.
    return Response(content=_HEALTH_BODY, media_type="application/json")


async def get_jwks(request: Request) -> Response:
    key_set = JsonWebKeySet.model_validate(await provider_of(request).public_keys())
    return model_response(
        key_set,
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"},
        # Members a key type does not use are absent, not null (RFC 7517).
        exclude_none=True,
    )


def register(app: FastAPI) -> None:
    app.add_api_route("/health", get_health, methods=["GET"], operation_id="getHealth")
    app.add_api_route("/.well-known/jwks.json", get_jwks, methods=["GET"], operation_id="getJwks")
