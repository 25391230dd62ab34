"""The operations table: every operation of the contract, with its handler, guard, capability
and outcome metric. Routes are registered from the contract's paths and this table, so a
route and its contract operation cannot disagree; `tests/contract/test_operations_table.py`
proves the table and the contract name the same operations.

A guarded handler receives the verified `Caller`; a public one only the request. An operation
that needs a capability answers 501 `not_supported_by_provider`, before anything else is
read, when the configured provider does not declare it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from auth_backend.api import account_routes, auth_routes, operations_routes
from auth_backend.api.guards import Guard, authenticated
from auth_backend.api.operational import operators_only
from auth_backend.api.state import service_of
from auth_backend.domain import Caller, Capability
from auth_backend.errors import NotSupportedByProvider
from auth_backend.observability.metrics import SUCCESS, OperationOutcomes

Handler = Callable[[Request], Awaitable[Response]]
GuardedHandler = Callable[[Request, Caller], Awaitable[Response]]
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(frozen=True, slots=True)
class Operation:
    handler: Callable[..., Awaitable[Response]]
    guard: Guard | None = None
    capability: Capability | None = None
    outcomes: OperationOutcomes | None = None
    # Served to OPERATIONS_ALLOWED_NETWORKS only (api/operational.py).
    operators_only: bool = False

    def __post_init__(self) -> None:
        takes_caller = len(inspect.signature(self.handler).parameters) == 2
        if takes_caller != (self.guard is not None):
            raise TypeError(f"{self.handler.__name__}: a guarded handler takes (request, caller)")

    def endpoint(self) -> Handler:
        """The handler behind this operation's guard, capability check and outcome count."""
        handler = self.handler
        guard = self.guard
        if guard is not None:
            guarded = cast(GuardedHandler, handler)

            async def with_caller(request: Request) -> Response:
                return await guarded(request, await guard(request))

            handler = with_caller
        if self.outcomes is not None:
            handler = _counted(handler, self.outcomes)
        if self.operators_only:
            handler = operators_only(handler)
        if self.capability is not None:
            handler = _offered(handler, self.capability)
        return _named(handler, self.handler)


OPERATIONS: dict[str, Operation] = {
    "signUp": Operation(
        auth_routes.sign_up,
        capability=Capability.ACCOUNTS,
        outcomes=OperationOutcomes("signups", "signUp"),
    ),
    "logIn": Operation(
        auth_routes.log_in,
        capability=Capability.ACCOUNTS,
        outcomes=OperationOutcomes(
            "logins", "logIn", preset=(SUCCESS, "invalid_credentials", "validation_failed")
        ),
    ),
    "refreshSession": Operation(auth_routes.refresh_session, capability=Capability.SESSIONS),
    "logOut": Operation(auth_routes.log_out, guard=authenticated, capability=Capability.SESSIONS),
    "getMe": Operation(auth_routes.get_me, guard=authenticated),
    "requestRecovery": Operation(
        account_routes.request_recovery,
        capability=Capability.RECOVERY,
        outcomes=OperationOutcomes("recovery_requests", "requestRecovery"),
    ),
    "confirmRecovery": Operation(
        account_routes.confirm_recovery,
        capability=Capability.RECOVERY,
        outcomes=OperationOutcomes(
            "recovery_confirmations", "confirmRecovery", preset=(SUCCESS, "invalid_code")
        ),
    ),
    "verifyEmail": Operation(
        account_routes.verify_email,
        capability=Capability.EMAIL_VERIFICATION,
        outcomes=OperationOutcomes(
            "email_verifications", "verifyEmail", preset=(SUCCESS, "invalid_code")
        ),
    ),
    "resendVerification": Operation(
        account_routes.resend_verification,
        capability=Capability.EMAIL_VERIFICATION,
        outcomes=OperationOutcomes("verification_resends", "resendVerification"),
    ),
    "getHealth": Operation(operations_routes.get_health),
    "getReadiness": Operation(operations_routes.get_readiness),
    "getMetrics": Operation(operations_routes.get_metrics, operators_only=True),
    "getJwks": Operation(operations_routes.get_jwks),
}


def contract_operations(contract: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(path, method, operationId) of every operation in the contract, in its order."""
    return [
        (path, method, operation["operationId"])
        for path, item in contract["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def table_mismatches(contract: dict[str, Any], table: dict[str, Operation]) -> list[str]:
    """How the table and the contract disagree: operations one names and the other lacks."""
    in_contract = {operation_id for _, _, operation_id in contract_operations(contract)}
    return [f"{name}: in the contract, not in the table" for name in in_contract - set(table)] + [
        f"{name}: in the table, not in the contract" for name in set(table) - in_contract
    ]


def register(
    app: FastAPI, contract: dict[str, Any], table: dict[str, Operation] | None = None
) -> None:
    """A route for every operation of the contract, served by its entry in the table; an app
    whose table and contract disagree is not built."""
    table = OPERATIONS if table is None else table
    mismatches = table_mismatches(contract, table)
    if mismatches:
        raise RuntimeError("operations table and contract differ: " + "; ".join(sorted(mismatches)))
    for path, method, operation_id in contract_operations(contract):
        operation = table[operation_id]
        endpoint = operation.endpoint() if _wrapped(operation) else operation.handler
        app.add_api_route(path, endpoint, methods=[method.upper()], operation_id=operation_id)


def _wrapped(operation: Operation) -> bool:
    # The bare handler serves as it is when there is nothing to wrap it in (getHealth's
    # takes no request at all, and must stay the cheapest route).
    return any(
        (operation.guard, operation.capability, operation.outcomes, operation.operators_only)
    )


def _counted(handler: Handler, outcomes: OperationOutcomes) -> Handler:
    async def counted(request: Request) -> Response:
        with outcomes.count():
            return await handler(request)

    return counted


def _offered(handler: Handler, capability: Capability) -> Handler:
    async def offered(request: Request) -> Response:
        if not service_of(request).offers(capability):
            raise NotSupportedByProvider(capability)
        return await handler(request)

    return offered


def _named(endpoint: Handler, handler: Callable[..., Any]) -> Handler:
    # Tracebacks and FastAPI's route names show the handler, not the wrapper.
    endpoint.__name__ = handler.__name__
    endpoint.__qualname__ = handler.__qualname__
    return endpoint
