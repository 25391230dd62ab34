"""Path, query and header parameters, parsed into the models generated from the contract
(`<OperationId>Parameters<Location>`), with the same 400 `validation_failed` problem that bad
bodies get: `errors[].field` is `query.<name>`, `path.<name>` or `header.<name>`.

Unknown parameters are ignored, as HTTP clients and proxies add their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from auth_backend.api.bodies import field_problems
from auth_backend.errors import ValidationFailed

ModelT = TypeVar("ModelT", bound=BaseModel)


def query_parameters(request: Request, model: type[ModelT]) -> ModelT:
    return _parse(request.query_params, model, "query")


def path_parameters(request: Request, model: type[ModelT]) -> ModelT:
    return _parse(request.path_params, model, "path")


def header_parameters(request: Request, model: type[ModelT]) -> ModelT:
    # Starlette's headers are looked up without regard to case, as HTTP names them.
    return _parse(request.headers, model, "header")


def _parse(values: Mapping[str, object], model: type[ModelT], location: str) -> ModelT:
    names = [field.alias or name for name, field in model.model_fields.items()]
    fields = {name: values[name] for name in names if name in values}
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed(errors=field_problems(error.errors(), location)) from None
