"""Handlers of the `auth` tag: signUp, logIn, getMe. Thin: parse, call the provider, render."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from auth_backend import auth
from auth_backend.api.bodies import FORM, JSON, form_body, json_body, require_media_type
from auth_backend.api.responses import NO_STORE, model_response
from auth_backend.api.wire import grant_to_wire, user_to_wire
from auth_backend.domain import ClientContext, Credentials
from auth_backend.models import LoginRequest, PasswordGrantForm, SignUpRequest
from auth_backend.observability.metrics import auth_outcome
from auth_backend.providers.base import IdentityProvider


def provider_of(request: Request) -> IdentityProvider:
    provider: IdentityProvider = request.app.state.provider
    return provider


def client_context(request: Request) -> ClientContext:
    return ClientContext(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


async def sign_up(request: Request) -> Response:
    with auth_outcome("signup"):
        body = await json_body(request, SignUpRequest)
        metadata = body.user_metadata.model_dump() if body.user_metadata else None
        account = auth.new_account(str(body.email), body.password, metadata)
        user = await provider_of(request).sign_up(account, client_context(request))
    return model_response(user_to_wire(user), status_code=201)


async def log_in(request: Request) -> Response:
    with auth_outcome("login"):
        credentials = await _login_credentials(request)
        grant = await provider_of(request).sign_in(credentials, client_context(request))
    return model_response(grant_to_wire(grant), headers=NO_STORE)


async def _login_credentials(request: Request) -> Credentials:
    if require_media_type(request, (JSON, FORM)) == JSON:
        body = await json_body(request, LoginRequest)
        return auth.credentials(str(body.email), body.password)
    form = await form_body(request, PasswordGrantForm)
    return auth.credentials(str(form.username), form.password)


async def get_me(request: Request) -> Response:
    claims = await auth.authenticate(provider_of(request), request.headers.get("authorization"))
    return model_response(user_to_wire(claims.to_account()))


def register(app: FastAPI) -> None:
    app.add_api_route("/signup", sign_up, methods=["POST"], operation_id="signUp")
    app.add_api_route("/login", log_in, methods=["POST"], operation_id="logIn")
    app.add_api_route("/me", get_me, methods=["GET"], operation_id="getMe")
