"""Handlers of the `auth` tag: signUp, logIn, refreshSession, logOut, getMe.

Thin: parse the contract's models, call the application service, render the answer.
"""

from __future__ import annotations

import pydantic_core
from starlette.requests import Request
from starlette.responses import Response

from auth_backend.api.bodies import FORM, JSON, form_body, json_body, require_media_type
from auth_backend.api.params import query_parameters
from auth_backend.api.password_lengths import weak_password_instead
from auth_backend.api.responses import NO_STORE, NO_STORE_RAW, model_response
from auth_backend.api.state import client_context, me_bodies_of, service_of
from auth_backend.api.wire import grant_to_wire, user_to_wire
from auth_backend.domain import Caller
from auth_backend.errors import ValidationFailed
from auth_backend.models import (
    LoginRequest,
    LogOutParametersQuery,
    PasswordGrantForm,
    RefreshRequest,
    SignUpRequest,
)


async def sign_up(request: Request) -> Response:
    service, client = service_of(request), client_context(request)
    try:
        body = await json_body(request, SignUpRequest)
    except ValidationFailed as failed:
        weak = weak_password_instead(failed)
        if weak is None:
            raise
        # Valid JSON whose every other member passed: its email is a string.
        email = pydantic_core.from_json(await request.body())["email"]
        service.refuse_sign_up(email, weak, client)
    metadata = body.user_metadata.model_dump() if body.user_metadata else None
    user = await service.sign_up(body.email, body.password, metadata, client)
    return model_response(user_to_wire(user), status_code=201, headers=NO_STORE)


async def log_in(request: Request) -> Response:
    service, client = service_of(request), client_context(request)
    if require_media_type(request, (JSON, FORM)) == JSON:
        body = await json_body(request, LoginRequest)
        grant = await service.log_in(body.email, body.password, client)
    else:
        form = await form_body(request, PasswordGrantForm)
        grant = await service.log_in(
            form.username, form.password, client, email_field="body.username"
        )
    return model_response(grant_to_wire(grant), headers=NO_STORE)


async def refresh_session(request: Request) -> Response:
    body = await json_body(request, RefreshRequest)
    grant = await service_of(request).refresh(body.refresh_token, client_context(request))
    return model_response(grant_to_wire(grant), headers=NO_STORE)


async def log_out(request: Request, caller: Caller) -> Response:
    query = query_parameters(request, LogOutParametersQuery)
    await service_of(request).log_out(caller, query.scope, client_context(request))
    return Response(status_code=204)


async def get_me(request: Request, caller: Caller) -> Response:
    # The body is a pure function of the token, memoised by token; it is used only after the
    # guard has verified the token on this very request.
    bodies = me_bodies_of(request)
    body = bodies.get(caller.token)
    if body is None:
        body = user_to_wire(service_of(request).me(caller)).model_dump_json().encode()
        bodies.put(caller.token, body)
    response = Response(content=body, media_type="application/json")
    response.raw_headers.extend(NO_STORE_RAW)
    return response
