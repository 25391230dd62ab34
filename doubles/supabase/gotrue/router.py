"""Route a request (prefix already stripped by the gateway) to its GoTrue handler."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..errors import ApiError, OAuthError, render_error
from ..state import DoubleState
from .admin import admin_create_user
from .links import admin_generate_link
from .token import token
from .user import get_user, logout, update_user
from .verify import verify_get, verify_post
from .wellknown import health, jwks, openid_configuration

Handler = Callable[[Request, DoubleState], Awaitable[Response]]
logger = logging.getLogger(__name__)

ROUTES: dict[str, dict[str, Handler]] = {
    "/admin/users": {"POST": admin_create_user},
    "/admin/generate_link": {"POST": admin_generate_link},
    "/token": {"POST": token},
    "/verify": {"GET": verify_get, "POST": verify_post},
    "/logout": {"POST": logout},
    "/user": {"GET": get_user, "PUT": update_user},
    "/.well-known/jwks.json": {"GET": jwks},
    "/.well-known/openid-configuration": {"GET": openid_configuration},
    "/health": {"GET": health},
}


async def dispatch(request: Request, path: str, state: DoubleState) -> Response:
    methods = ROUTES.get(path)
    if methods is None:
        # Not in the reference: GoTrue's router (chi) answers unknown paths with its default.
        return PlainTextResponse("404 page not found\n", 404)
    handler = methods.get(request.method)
    if handler is None:
        return Response(status_code=405)
    try:
        return await handler(request, state)
    except (ApiError, OAuthError) as exc:
        return render_error(exc, request.headers)
    except Exception as exc:  # GoTrue's "unhandled error" branch (reference §2)
        logger.exception("unhandled error in %s %s", request.method, path)
        return render_error(exc, request.headers)
