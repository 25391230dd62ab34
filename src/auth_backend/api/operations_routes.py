"""Handlers of the `operations` tag: getHealth, getReadiness, getMetrics, getJwks."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI, Request
from starlette.responses import Response

from auth_backend.api.context import provider_of
from auth_backend.api.problems import problem_response, request_id_of
from auth_backend.api.responses import model_response
from auth_backend.errors import ProviderUnavailable, ServiceError
from auth_backend.models import Health, JsonWebKeySet, Readiness
from auth_backend.observability import metrics
from auth_backend.settings import Settings

logger = logging.getLogger(__name__)

_HEALTH_BODY = Health(status="ok").model_dump_json().encode()
JWKS_MAX_AGE_SECONDS = 600
# A probe must see the state of now, never a cached answer.
_NO_STORE = {"Cache-Control": "no-store"}


async def get_health() -> Response:
    # Liveness only: it must answer even when every dependency is down.
    return Response(content=_HEALTH_BODY, media_type="application/json")


async def get_readiness(request: Request) -> Response:
    provider = provider_of(request)
    settings: Settings = request.app.state.settings
    try:
        # A dependency that hangs must not hang the probe: not answering in time is not ready.
        async with asyncio.timeout(settings.readiness_timeout):
            await provider.check_ready()
    except TimeoutError:
        failure: ServiceError = ProviderUnavailable(
            f"The {provider.name} identity provider did not answer within "
            f"{settings.readiness_timeout:g} seconds."
        )
        logger.warning("not ready: %s", failure.detail)
        return _not_ready(failure, request)
    except Exception as error:
        # The Protocol asks for Provider* errors; anything else means "not ready" just as much,
        # and /ready documents 200 and 503 only.
        if isinstance(error, ServiceError):
            failure, cause = error, error.__cause__
        else:
            failure = ProviderUnavailable(
                f"The {provider.name} identity provider failed its readiness check."
            )
            cause = error
        logger.warning(
            "not ready: %s%s",
            failure.detail,
            f" ({type(cause).__name__}: {cause})" if cause is not None else "",
        )
        return _not_ready(failure, request)
    readiness = Readiness.model_validate({"status": "ready", "provider": provider.name})
    return model_response(readiness, headers=_NO_STORE)


def _not_ready(error: ServiceError, request: Request) -> Response:
    response = problem_response(error, request_id_of(request))
    response.headers.update(_NO_STORE)
    return response


async def get_metrics() -> Response:
    return Response(content=metrics.render(), media_type=metrics.CONTENT_TYPE)


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
    app.add_api_route("/ready", get_readiness, methods=["GET"], operation_id="getReadiness")
    app.add_api_route("/metrics", get_metrics, methods=["GET"], operation_id="getMetrics")
    app.add_api_route("/.well-known/jwks.json", get_jwks, methods=["GET"], operation_id="getJwks")
