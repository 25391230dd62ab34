"""RFC 9457 problem responses, and the handlers that turn every failure into one."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from auth_backend.errors import (
    FieldProblem,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ServiceError,
    ValidationFailed,
)
from auth_backend.models import FieldError, Problem, ProblemCode

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_body(error: ServiceError, request_id: str) -> bytes:
    errors = getattr(error, "errors", None)
    problem = Problem(
        type=f"urn:auth-backend:problem:{error.code}",
        title=error.title,
        status=error.status,
        detail=error.detail,
        code=ProblemCode(error.code),
        request_id=request_id,
        errors=[FieldError(field=e.field, message=e.message) for e in errors] if errors else None,
    )
    return problem.model_dump_json(exclude_none=True).encode()


def problem_response(error: ServiceError, request_id: str) -> Response:
    return Response(
        content=problem_body(error, request_id),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=error.headers(),
    )


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def install_problem_handlers(app: FastAPI) -> None:
    async def service_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ServiceError)
        return problem_response(error, request_id_of(request))

    async def request_validation(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        problems = [
            FieldProblem(field=".".join(str(part) for part in e["loc"]), message=e["msg"])
            for e in error.errors()
        ]
        return problem_response(ValidationFailed(errors=problems), request_id_of(request))

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        service_error_: ServiceError
        if error.status_code == 404:
            service_error_ = NotFound()
        elif error.status_code == 405:
            allowed = (error.headers or {}).get("Allow", "")
            service_error_ = MethodNotAllowed(allowed)
        else:
            logger.error("unexpected HTTP exception %s", error.status_code)
            service_error_ = InternalError()
        return problem_response(service_error_, request_id_of(request))

    async def client_gone(_request: Request, _error: Exception) -> Response:
        # The client left, or the server cut off a body that did not arrive in time
        # (transport.py): nobody reads this answer; the access line records it as 408.
        return Response(status_code=408)

    async def unexpected(request: Request, error: Exception) -> Response:
        # Our bug: the traceback goes to our logs, the client gets a bare problem.
        logger.exception("unhandled error", extra={"request_id": request_id_of(request)})
        return problem_response(InternalError(), request_id_of(request))

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(Exception, unexpected)
