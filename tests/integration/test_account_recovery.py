"""Account recovery end to end, on every provider: the service mails a code and a link through
a real SMTP server (STARTTLS, AUTH), the test reads the mail as the user would and completes
the flow over HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from auth_backend.store.database import open_database
from auth_backend.store.schema import one_time_codes, outbox
from tests.integration.conftest import MailingService
from tests.support.accounts import PASSWORD, bearer, log_in, new_session, refresh, unique_email
from tests.support.mail import MailedCode, nth_mailed_code
from tests.support.problems import assert_problem

NEW_PASSWORD = "a brand new horse battery"
ACCEPTED = {"message": "If an account uses this address, a mail with a code is on its way."}


async def recover(client: httpx.AsyncClient, email: str) -> MailedCode | None:
    response = await client.post("/recover", json={"email": email})
    assert response.status_code == 202, response.text
    assert response.json() == ACCEPTED
    return None


async def recovery_mail(service: MailingService, email: str, count: int = 1) -> MailedCode:
    """The code and link of the `count`th recovery mail `email` received."""
    return await nth_mailed_code(service.smtp, email, count)


async def test_a_mailed_code_sets_a_new_password_and_ends_every_other_session(
    mailing_service: MailingService,
) -> None:
    client = mailing_service.client
    email = unique_email("recover")
    old_session = await new_session(client, email)

    await recover(client, email)
    mail = await recovery_mail(mailing_service, email)
    message = mailing_service.smtp.messages_to(email)[0]
    assert message["To"] == email
    assert "recovery" in message["Subject"].lower() or "password" in message["Subject"].lower()

    confirmed = await client.post(
        "/recover/confirm", json={"email": email, "code": mail.code, "password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.headers["cache-control"] == "no-store"
    tokens = confirmed.json()
    assert tokens["user"]["email"] == email
    assert tokens["user"]["email_confirmed_at"] is not None
    assert (await client.get("/me", headers=bearer(tokens))).status_code == 200

    # The session from before the recovery is over; the new one goes on.
    assert (await refresh(client, old_session["refresh_token"])).status_code == 401
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200
    # The new password logs in, the old one does not.
    assert (await log_in(client, email, NEW_PASSWORD)).status_code == 200
    assert_problem(await log_in(client, email, PASSWORD), 401, "invalid_credentials")


async def test_the_links_token_works_as_well_as_the_code(mailing_service: MailingService) -> None:
    client = mailing_service.client
    email = unique_email("link")
    await new_session(client, email)
    await recover(client, email)
    mail = await recovery_mail(mailing_service, email)
    assert mail.link == "http://localhost:3000/reset-password"

    confirmed = await client.post(
        "/recover/confirm", json={"token": mail.token, "password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert (await log_in(client, email, NEW_PASSWORD)).status_code == 200
    # The code of that mail was used up with its link.
    again = await client.post(
        "/recover/confirm", json={"email": email, "code": mail.code, "password": NEW_PASSWORD}
    )
    assert_problem(again, 400, "invalid_code")


async def test_a_code_is_single_use(mailing_service: MailingService) -> None:
    client = mailing_service.client
    email = unique_email("once")
    await new_session(client, email)
    await recover(client, email)
    mail = await recovery_mail(mailing_service, email)
    body = {"email": email, "code": mail.code, "password": NEW_PASSWORD}
    assert (await client.post("/recover/confirm", json=body)).status_code == 200
    assert_problem(await client.post("/recover/confirm", json=body), 400, "invalid_code")
    link = {"token": mail.token, "password": "yet another horse battery"}
    assert_problem(await client.post("/recover/confirm", json=link), 400, "invalid_code")


@pytest.mark.parametrize(("wrong_guesses", "right_one_works"), [(4, True), (5, False)])
async def test_five_wrong_codes_kill_the_code_even_when_the_next_is_right(
    mailing_service: MailingService, wrong_guesses: int, right_one_works: bool
) -> None:
    client = mailing_service.client
    email = unique_email("guess")
    await new_session(client, email)
    await recover(client, email)
    mail = await recovery_mail(mailing_service, email)
    wrong = f"{(int(mail.code) + 1) % 1_000_000:06d}"
    for _ in range(wrong_guesses):
        guess = {"email": email, "code": wrong, "password": NEW_PASSWORD}
        assert_problem(await client.post("/recover/confirm", json=guess), 400, "invalid_code")
    right = {"email": email, "code": mail.code, "password": NEW_PASSWORD}
    answer = await client.post("/recover/confirm", json=right)
    if right_one_works:
        assert answer.status_code == 200, answer.text
    else:
        assert_problem(answer, 400, "invalid_code")
        assert (await log_in(client, email, PASSWORD)).status_code == 200


async def test_a_new_request_ends_the_previous_code(mailing_service: MailingService) -> None:
    client = mailing_service.client
    email = unique_email("again")
    await new_session(client, email)
    await recover(client, email)
    first = await recovery_mail(mailing_service, email)
    await recover(client, email)
    second = await recovery_mail(mailing_service, email, count=2)
    assert (first.code, first.token) != (second.code, second.token)
    stale = {"email": email, "code": first.code, "password": NEW_PASSWORD}
    assert_problem(await client.post("/recover/confirm", json=stale), 400, "invalid_code")
    stale_link = {"token": first.token, "password": NEW_PASSWORD}
    assert_problem(await client.post("/recover/confirm", json=stale_link), 400, "invalid_code")
    fresh = {"email": email, "code": second.code, "password": NEW_PASSWORD}
    assert (await client.post("/recover/confirm", json=fresh)).status_code == 200


async def test_an_expired_code_is_refused(mailing_service: MailingService) -> None:
    client = mailing_service.client
    email = unique_email("expired")
    await new_session(client, email)
    await recover(client, email)
    mail = await recovery_mail(mailing_service, email)
    # Ten minutes pass (the store's clock is the only one that matters to a code).
    database = open_database(mailing_service.database_url)
    try:
        await database.write(_expire_codes, email)
    finally:
        await database.aclose()
    body = {"email": email, "code": mail.code, "password": NEW_PASSWORD}
    assert_problem(await client.post("/recover/confirm", json=body), 400, "invalid_code")
    link = {"token": mail.token, "password": NEW_PASSWORD}
    assert_problem(await client.post("/recover/confirm", json=link), 400, "invalid_code")
    assert (await log_in(client, email, PASSWORD)).status_code == 200


def _expire_codes(connection: sa.Connection, email: str) -> None:
    connection.execute(
        one_time_codes.update()
        .where(one_time_codes.c.email == email)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    mailing_service: MailingService,
) -> None:
    client = mailing_service.client
    known, unknown = unique_email("known"), unique_email("nobody")
    await new_session(client, known)
    answers = []
    for email in (known, unknown):
        response = await client.post("/recover", json={"email": email})
        answers.append(
            (response.status_code, response.content, response.headers.get("content-type"))
        )
    assert answers[0] == answers[1]
    await recovery_mail(mailing_service, known)
    # Nothing is queued for the unknown address, so nothing will ever be sent to it.
    assert await in_store(mailing_service, _queued_for, unknown) == 0
    assert mailing_service.smtp.messages_to(unknown) == []


def _queued_for(connection: sa.Connection, email: str) -> int:
    count = connection.execute(
        sa.select(sa.func.count()).select_from(outbox).where(outbox.c.recipient == email)
    ).scalar_one()
    return int(count)


async def test_a_weak_new_password_costs_no_code(mailing_service: MailingService) -> None:
    client = mailing_service.client
    email = unique_email("weak")
    await new_session(client, email)
    await recover(client, email)
    mail = await recovery_mail(mailing_service, email)
    for weak in ("short", "password123"):
        body = {"email": email, "code": mail.code, "password": weak}
        assert_problem(await client.post("/recover/confirm", json=body), 400, "weak_password")
    body = {"email": email, "code": mail.code, "password": NEW_PASSWORD}
    assert (await client.post("/recover/confirm", json=body)).status_code == 200


async def test_sent_mail_leaves_no_code_at_rest(mailing_service: MailingService) -> None:
    client = mailing_service.client
    email = unique_email("rest")
    await new_session(client, email)
    await recover(client, email)
    mail = await recovery_mail(mailing_service, email)
    mails: list[dict[str, object]] = []
    for _ in range(50):  # the worker settles the row just after the server took the mail
        mails = await in_store(mailing_service, _rows_of, outbox, outbox.c.recipient, email)
        if mails and all(row["status"] == "sent" for row in mails):
            break
        await asyncio.sleep(0.1)
    assert mails and all(row["status"] == "sent" for row in mails)
    assert all(row["body_text"] == "" and row["body_html"] == "" for row in mails)
    codes = await in_store(mailing_service, _rows_of, one_time_codes, one_time_codes.c.email, email)
    at_rest = repr(mails) + repr(codes)
    assert mail.code not in at_rest
    assert mail.token not in at_rest


async def in_store(service: MailingService, operation: Any, *args: Any) -> Any:
    database = open_database(service.database_url)
    try:
        return await database.read(operation, *args)
    finally:
        await database.aclose()


def _rows_of(
    connection: sa.Connection, table: sa.Table, column: sa.Column[str], email: str
) -> list[dict[str, object]]:
    return [
        dict(row) for row in connection.execute(sa.select(table).where(column == email)).mappings()
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not an address"}, "body.email"),
        ({"email": "a" * 250 + "@example.com"}, "body.email"),
        ({"email": "ada@example.com", "extra": 1}, "body.extra"),
        ({}, "body.email"),
        ({"email": 7}, "body.email"),
    ],
)
async def test_bad_recovery_requests_are_400(
    mailing_service: MailingService, body: dict[str, object], field: str
) -> None:
    response = await mailing_service.client.post("/recover", json=body)
    problem = assert_problem(response, 400, "validation_failed")
    assert field in {error["field"] for error in problem["errors"]}


TOKEN = "A" * 43
# Six digits to a person, none to the contract's [0-9].
FULLWIDTH_DIGITS = "\uff11\uff12\uff13\uff14\uff15\uff16"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ada@example.com", "code": "12345", "password": NEW_PASSWORD},
        {"email": "ada@example.com", "code": "1234567", "password": NEW_PASSWORD},
        {"email": "ada@example.com", "code": "12a456", "password": NEW_PASSWORD},
        {"email": "ada@example.com", "code": FULLWIDTH_DIGITS, "password": NEW_PASSWORD},
        {"email": "ada@example.com", "code": 123456, "password": NEW_PASSWORD},
        {"email": "not an address", "code": "123456", "password": NEW_PASSWORD},
        {"email": "ada@example.com", "code": "123456"},
        {"token": "A" * 42, "password": NEW_PASSWORD},
        {"token": "A" * 44, "password": NEW_PASSWORD},
        {"token": "A" * 42 + "=", "password": NEW_PASSWORD},
        {"token": TOKEN, "email": "ada@example.com", "password": NEW_PASSWORD},
        {"token": TOKEN, "password": "x" * 10_000},
        {"password": NEW_PASSWORD},
        [],
    ],
)
async def test_bad_confirmations_are_400_never_500(
    mailing_service: MailingService, body: object
) -> None:
    response = await mailing_service.client.post("/recover/confirm", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] in {"validation_failed", "weak_password"}


async def test_an_unknown_token_or_address_is_invalid_code(
    mailing_service: MailingService,
) -> None:
    client = mailing_service.client
    link = {"token": TOKEN, "password": NEW_PASSWORD}
    assert_problem(await client.post("/recover/confirm", json=link), 400, "invalid_code")
    code = {"email": unique_email("nobody"), "code": "123456", "password": NEW_PASSWORD}
    assert_problem(await client.post("/recover/confirm", json=code), 400, "invalid_code")
