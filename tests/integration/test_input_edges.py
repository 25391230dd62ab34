"""Input the JSON parser admits but JSON does not: NaN, Infinity and numbers out of range in
`user_metadata` are a 400 on every provider; and a statement the database refuses never
carries its values (password hashes) into an exception, and so into a log line."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from auth_backend.domain import Capability, ClientContext, NewAccount
from auth_backend.providers.local import LocalProvider
from tests.support.accounts import PASSWORD, sign_up, unique_email
from tests.support.problems import assert_problem
from tests.support.services import make_settings, running_app


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_non_finite_numbers_in_metadata_are_refused(
    service: httpx.AsyncClient, number: str
) -> None:
    email = unique_email()
    body = f'{{"email": "{email}", "password": "{PASSWORD}", "user_metadata": {{"n": {number}}}}}'
    response = await service.post(
        "/signup", content=body.encode(), headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 400, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["body.user_metadata"]
    # Nothing was stored: the address is still free.
    assert (await sign_up(service, email)).status_code == 201


async def test_a_refused_statement_carries_no_values(
    postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_app(make_settings(database_url=postgres_database)) as (app, _client):
        provider: LocalProvider = app.state.provider
        # Past the API's checks, straight to the store: PostgreSQL refuses NaN in JSON.
        account = NewAccount(
            email=unique_email(), password=PASSWORD, user_metadata={"n": float("nan")}
        )
        with caplog.at_level(logging.DEBUG), pytest.raises(Exception) as refused:
            await provider.sign_up(account, ClientContext(ip=None))
    text = "".join(traceback.format_exception(refused.value)) + caplog.text
    assert "$argon2id$" not in text
    assert PASSWORD not in text
    assert account.email not in text
    assert "INSERT INTO users" in text  # the statement is named, its values are not
