"""The operations table (api/operations.py) and the contract describe the same operations:
the same names, a guard exactly where the contract asks for a token, and a documented 501
exactly where an operation depends on a provider capability. An app whose table and contract
disagree is not built."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from auth_backend.api import operations
from auth_backend.api.operations import OPERATIONS, Operation, contract_operations
from auth_backend.contract import load_contract
from auth_backend.main import create_app
from tests.support.services import make_settings


def contract_operation(operation_id: str) -> dict[str, Any]:
    contract = load_contract()
    for path, method, name in contract_operations(contract):
        if name == operation_id:
            operation: dict[str, Any] = contract["paths"][path][method]
            return operation
    raise AssertionError(f"{operation_id} is not in the contract")


def test_the_table_and_the_contract_name_the_same_operations() -> None:
    in_contract = [name for _, _, name in contract_operations(load_contract())]
    assert len(in_contract) == len(set(in_contract))
    assert set(in_contract) == set(OPERATIONS)
    assert operations.table_mismatches(load_contract(), OPERATIONS) == []


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_an_operation_is_guarded_exactly_when_the_contract_asks_for_a_token(
    operation_id: str,
) -> None:
    needs_token = bool(contract_operation(operation_id).get("security"))
    assert (OPERATIONS[operation_id].guard is not None) == needs_token


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_an_operation_documents_501_exactly_when_it_needs_a_capability(operation_id: str) -> None:
    responses = contract_operation(operation_id)["responses"]
    documented = responses.get("501", {}).get("$ref") == (
        "#/components/responses/NotSupportedByProvider"
    )
    assert documented == (OPERATIONS[operation_id].capability is not None)


def test_every_route_is_served_by_its_table_entry() -> None:
    app = create_app(make_settings())
    served = {
        (route.path, method.lower(), route.operation_id): route.endpoint.__name__
        for route in app.routes
        if isinstance(route, APIRoute) and route.operation_id
        for method in route.methods or ()
    }
    expected = {
        (path, method, name): OPERATIONS[name].handler.__name__
        for path, method, name in contract_operations(load_contract())
    }
    assert served == expected


@pytest.mark.parametrize("broken", ["missing", "extra"])
def test_an_app_whose_table_disagrees_with_the_contract_is_not_built(broken: str) -> None:
    table = dict(OPERATIONS)
    if broken == "missing":
        del table["getMe"]
    else:
        table["deleteEverything"] = Operation(OPERATIONS["getHealth"].handler)
    app = create_app(make_settings())
    with pytest.raises(RuntimeError, match=r"getMe|deleteEverything"):
        operations.register(app, load_contract(), table)


def test_a_guard_and_the_handler_shape_must_agree() -> None:
    # A handler that takes the caller without a guard (or the reverse) is refused when the
    # table is built, not discovered on a request.
    with pytest.raises(TypeError):
        Operation(OPERATIONS["getMe"].handler)
    with pytest.raises(TypeError):
        Operation(OPERATIONS["refreshSession"].handler, guard=OPERATIONS["getMe"].guard)
