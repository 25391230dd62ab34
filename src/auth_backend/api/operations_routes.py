"""Handlers of the `operations` tag: getHealth, getReadiness, getMetrics, getJwks."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from auth_backend.api.problems import problem_response, request_id_of
from auth_backend.api.responses import model_response
from auth_backend.api.state import service_of, settings_of
from auth_backend.errors import ServiceError
from auth_backend.models import Health, JsonWebKeySet, Readiness
from auth_backend.observability import metrics

logger = logging.getLogger(__name__)

_HEALTH_BODY = Health(status="ok").model_dump_json().encode()
JWKS_MAX_AGE_SECONDS = 600
# A probe must see the state of now, never a cached answer.
_NO_STORE = {"Cache-Control": "no-store"}


async def get_health() -> Response:
    # Liveness only: it must answer even when every dependency is down.
    return Response(content=_HEALTH_BODY, media_type="application/json")


async def get_readiness(request: Request) -> Response:
    service = service_of(request)
    try:
        await service.check_ready(settings_of(request).readiness_timeout)
    except ServiceError as failure:
        cause = failure.__cause__
        logger.warning(
            "not ready: %s%s",
            failure.detail,
            f" ({type(cause).__name__}: {cause})" if cause is not None else "",
        )
        # /ready documents 200 and 503 only, and must never be cached.
        response = problem_response(failure, request_id_of(request))
        response.headers.update(_NO_STORE)
        return response
    readiness = Readiness.model_validate({"status": "ready", "provider": service.provider.name})
    return model_response(readiness, headers=_NO_STORE)


async def get_metrics(_request: Request) -> Response:
    return Response(content=metrics.render(), media_type=metrics.CONTENT_TYPE)


async def get_jwks(request: Request) -> Response:
    key_set = JsonWebKeySet.model_validate(await service_of(request).public_keys())
    return model_response(
        key_set,
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"},
        # Members a key type does not use are absent, not null (RFC 7517).
        exclude_none=True,
    )
