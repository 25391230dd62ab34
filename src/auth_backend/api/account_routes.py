"""Handlers of the `account` tag: requestRecovery, confirmRecovery, verifyEmail,
resendVerification.

Thin: parse the contract's models, call the application service, render the answer. A body
that carries `token` is the link's shape, any other the code's: choosing the shape first gives
field errors that name the body's own fields (a plain oneOf would report both shapes').
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from auth_backend.api.bodies import JSON, json_body, parse_json, require_media_type
from auth_backend.api.password_lengths import weak_password_instead
from auth_backend.api.responses import NO_STORE, model_response
from auth_backend.api.state import client_context, service_of
from auth_backend.api.wire import grant_to_wire
from auth_backend.domain import CodeProof
from auth_backend.errors import ValidationFailed
from auth_backend.models import (
    EmailRequest,
    MailAccepted,
    RecoveryWithCode,
    RecoveryWithLink,
    VerificationWithCode,
    VerificationWithLink,
)

# One body for every address, known or not (and so one for both operations).
ACCEPTED = MailAccepted(
    message="If an account uses this address, a mail with a code is on its way."
).model_dump_json()

_WithCode = TypeVar("_WithCode", bound=BaseModel)
_WithLink = TypeVar("_WithLink", bound=BaseModel)


def _accepted() -> Response:
    return Response(content=ACCEPTED, status_code=202, media_type="application/json")


async def request_recovery(request: Request) -> Response:
    body = await json_body(request, EmailRequest)
    await service_of(request).request_recovery(body.email, client_context(request))
    return _accepted()


async def resend_verification(request: Request) -> Response:
    body = await json_body(request, EmailRequest)
    await service_of(request).resend_verification(body.email, client_context(request))
    return _accepted()


async def confirm_recovery(request: Request) -> Response:
    try:
        body = await _code_or_link(request, RecoveryWithCode, RecoveryWithLink)
    except ValidationFailed as failed:
        weak = weak_password_instead(failed)
        if weak is None:
            raise
        raise weak from None
    if isinstance(body, RecoveryWithLink):
        proof = CodeProof(link_token=body.token.root)
    else:
        proof = CodeProof(email=body.email, code=body.code.root)
    grant = await service_of(request).confirm_recovery(
        proof, body.password.root, client_context(request)
    )
    return model_response(grant_to_wire(grant), headers=NO_STORE)


async def verify_email(request: Request) -> Response:
    body = await _code_or_link(request, VerificationWithCode, VerificationWithLink)
    if isinstance(body, VerificationWithLink):
        proof = CodeProof(link_token=body.token.root)
    else:
        proof = CodeProof(email=body.email, code=body.code.root)
    grant = await service_of(request).verify_email(proof, client_context(request))
    return model_response(grant_to_wire(grant), headers=NO_STORE)


async def _code_or_link(
    request: Request, with_code: type[_WithCode], with_link: type[_WithLink]
) -> _WithCode | _WithLink:
    require_media_type(request, (JSON,))
    raw = await request.body()
    data = parse_json(raw)
    if isinstance(data, dict) and "token" in data:
        return await json_body(request, with_link)
    return await json_body(request, with_code)
