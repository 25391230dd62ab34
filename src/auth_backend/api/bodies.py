"""Request bodies: content-type negotiation and validation against the generated models.

Bodies are parsed here rather than by FastAPI so that every operation gets the same 415 for
a wrong content type and the same 400 `validation_failed` shape for a bad body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request

from auth_backend.errors import FieldProblem, UnsupportedMediaType, ValidationFailed

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

ModelT = TypeVar("ModelT", bound=BaseModel)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def require_media_type(request: Request, accepted: Sequence[str]) -> str:
    found = media_type(request)
    if found not in accepted:
        raise UnsupportedMediaType(f"Send the body as one of: {', '.join(accepted)}.")
    return found


def field_problems(errors: Sequence[ErrorDetails], location: str = "body") -> list[FieldProblem]:
    """Pydantic errors as `{field, message}`; the rejected input is never echoed back."""
    return [
        FieldProblem(
            field=".".join([location, *(str(part) for part in error["loc"])]),
            message=error["msg"],
            kind=error["type"],
        )
        for error in errors
    ]


def _not_json() -> ValidationFailed:
    return ValidationFailed(
        "The request body is not valid JSON.",
        [FieldProblem(field="body", message="Invalid JSON")],
    )


def parse_json(raw: bytes) -> Any:
    """The body as JSON values, for handlers that choose a model by its members."""
    try:
        return pydantic_core.from_json(raw)
    except ValueError:
        raise _not_json() from None


async def json_body(request: Request, model: type[ModelT]) -> ModelT:
    require_media_type(request, (JSON,))
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(e["type"] == "json_invalid" for e in error.errors()):
            raise _not_json() from None
        raise ValidationFailed(errors=field_problems(error.errors())) from None


async def form_body(request: Request, model: type[ModelT]) -> ModelT:
    form = await request.form()
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise ValidationFailed(
                errors=[FieldProblem(field=f"body.{name}", message="Files are not accepted")]
            )
        fields[name] = value
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed(errors=field_problems(error.errors())) from None
