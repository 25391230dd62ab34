"""Handlers of the `auth` tag: signUp, logIn, refreshSession, logOut, getMe.

Thin: parse the body, throttle, call the provider, audit the outcome, render the answer.
"""

from __future__ import annotations

from typing import get_args

from fastapi import FastAPI, Request
from starlette.responses import Response

from auth_backend import auth
from auth_backend.api.bodies import FORM, JSON, form_body, json_body, require_media_type
from auth_backend.api.context import client_context, me_bodies_of, provider_of, throttle_of
from auth_backend.api.responses import NO_STORE, model_response
from auth_backend.api.wire import grant_to_wire, user_to_wire
from auth_backend.audit import audit
from auth_backend.domain import Credentials, LogoutScope
from auth_backend.errors import (
    FieldProblem,
    InvalidCredentials,
    RefreshTokenReused,
    ServiceError,
    ValidationFailed,
)
from auth_backend.models import LoginRequest, PasswordGrantForm, RefreshRequest, SignUpRequest
from auth_backend.observability.metrics import auth_outcome
from auth_backend.security.throttling import Rule

LOGOUT_SCOPES: tuple[LogoutScope, ...] = get_args(LogoutScope)


async def sign_up(request: Request) -> Response:
    context = client_context(request)
    with auth_outcome("signup"):
        body = await json_body(request, SignUpRequest)
        email = auth.normalize_email(body.email)
        try:
            await throttle_of(request).consume(Rule.SIGNUP_PER_IP, context.ip or "unknown")
            metadata = body.user_metadata.model_dump() if body.user_metadata else None
            account = auth.new_account(email, body.password, metadata)
            user = await provider_of(request).sign_up(account, context)
        except ServiceError as error:
            audit("signup_failed", ip=context.ip, email=email, reason=error.code)
            raise
        audit("signup_succeeded", ip=context.ip, user_id=str(user.id))
    return model_response(user_to_wire(user), status_code=201)


async def log_in(request: Request) -> Response:
    context = client_context(request)
    with auth_outcome("login"):
        credentials = await _login_credentials(request)
        throttle = throttle_of(request)
        try:
            await throttle.consume(Rule.LOGIN_PER_IP, context.ip or "unknown")
            # Counted per email whether or not the account exists, so limits reveal nothing.
            await throttle.check(Rule.LOGIN_PER_ACCOUNT, credentials.email)
            grant = await provider_of(request).sign_in(credentials, context)
        except ServiceError as error:
            if isinstance(error, InvalidCredentials):
                await throttle.record(Rule.LOGIN_PER_ACCOUNT, credentials.email)
            audit("login_failed", ip=context.ip, email=credentials.email, reason=error.code)
            raise
        audit("login_succeeded", ip=context.ip, user_id=str(grant.user.id))
    return model_response(grant_to_wire(grant), headers=NO_STORE)


async def _login_credentials(request: Request) -> Credentials:
    if require_media_type(request, (JSON, FORM)) == JSON:
        body = await json_body(request, LoginRequest)
        return auth.credentials(body.email, body.password)
    form = await form_body(request, PasswordGrantForm)
    return auth.credentials(form.username, form.password, email_field="body.username")


async def refresh_session(request: Request) -> Response:
    context = client_context(request)
    body = await json_body(request, RefreshRequest)
    try:
        await throttle_of(request).consume(Rule.REFRESH_PER_IP, context.ip or "unknown")
        grant = await provider_of(request).refresh(body.refresh_token, context)
    except ServiceError as error:
        reused = isinstance(error, RefreshTokenReused)
        event = "refresh_token_reuse_detected" if reused else "refresh_failed"
        audit(event, ip=context.ip, reason=error.code)
        raise
    audit("refresh_succeeded", ip=context.ip, user_id=str(grant.user.id))
    return model_response(grant_to_wire(grant), headers=NO_STORE)


async def log_out(request: Request) -> Response:
    context = client_context(request)
    scope = _logout_scope(request.query_params.get("scope", "local"))
    provider = provider_of(request)
    token = auth.bearer_token(request.headers.get("authorization"))
    claims = await provider.verify_access_token(token)
    await provider.sign_out(token, claims, scope, context)
    audit(
        "logout",
        ip=context.ip,
        user_id=str(claims.subject),
        session_id=claims.session_id,
        scope=scope,
    )
    return Response(status_code=204)


def _logout_scope(value: str) -> LogoutScope:
    for scope in LOGOUT_SCOPES:
        if value == scope:
            return scope
    message = f"must be one of {', '.join(LOGOUT_SCOPES)}"
    raise ValidationFailed(errors=[FieldProblem(field="query.scope", message=message)])


async def get_me(request: Request) -> Response:
    token = auth.bearer_token(request.headers.get("authorization"))
    # Verified on every call (the provider may answer from its own cache of verifications,
    # which honours exp and logout); only then is a memoised body of this token used.
    claims = await provider_of(request).verify_access_token(token)
    bodies = me_bodies_of(request)
    body = bodies.get(token)
    if body is None:
        body = user_to_wire(claims.to_account()).model_dump_json().encode()
        bodies.put(token, body)
    return Response(content=body, media_type="application/json")


def register(app: FastAPI) -> None:
    app.add_api_route("/signup", sign_up, methods=["POST"], operation_id="signUp")
    app.add_api_route("/login", log_in, methods=["POST"], operation_id="logIn")
    app.add_api_route("/refresh", refresh_session, methods=["POST"], operation_id="refreshSession")
    app.add_api_route("/logout", log_out, methods=["POST"], operation_id="logOut")
    app.add_api_route("/me", get_me, methods=["GET"], operation_id="getMe")
