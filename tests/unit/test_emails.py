"""Email addresses: the service accepts exactly what the contract's `email` schema describes."""

from __future__ import annotations

import pytest

from auth_backend.errors import ValidationFailed
from auth_backend.inputs import credentials, normalize_email


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("  ada@example.com ", "ada@example.com"),
        # Reserved for testing (RFC 6761): client test suites and the contract fuzzer use it.
        ("ci-user@service.test", "ci-user@service.test"),
        ("{'}+x@a.example", "{'}+x@a.example"),
        ("ünï@example.com", "ünï@example.com"),
        # The contract's maxLength: 254 characters is RFC 5321's limit.
        ("a@" + ".".join(["b" * 63] * 3) + "." + "c" * 60, None),
    ],
)
def test_addresses_the_contract_allows_are_accepted(given: str, stored: str | None) -> None:
    assert normalize_email(given) == (stored or given.lower())


@pytest.mark.parametrize(
    "given",
    [
        "not-an-email",
        "a@" + ".".join(["b" * 63] * 3) + "." + "c" * 61,  # 255 characters
        "ada@localhost",
        "ada@host.invalid",
        '"quoted"@example.com',
        "ada@[127.0.0.1]",
        "Ada <ada@example.com>",
    ],
)
def test_addresses_the_contract_refuses_are_validation_failures(given: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        normalize_email(given)
    assert [problem.field for problem in raised.value.errors] == ["body.email"]


def test_the_form_login_names_its_own_field() -> None:
    with pytest.raises(ValidationFailed) as raised:
        credentials("nope", "password", email_field="body.username")
    assert raised.value.errors[0].field == "body.username"
