"""Email verification end to end, on every provider, with EMAIL_CONFIRMATION=required: signup
mails a code and a link through a real SMTP server, login waits for the address to be verified,
and the mail's code or link verifies it."""

from __future__ import annotations

import asyncio

import httpx

from tests.integration.conftest import MailingService
from tests.support.accounts import log_in, sign_up, unique_email
from tests.support.mail import MailedCode, nth_mailed_code
from tests.support.problems import assert_problem

ACCEPTED = {"message": "If an account uses this address, a mail with a code is on its way."}


async def verification_mail(service: MailingService, email: str, count: int = 1) -> MailedCode:
    return await nth_mailed_code(service.smtp, email, count)


async def resend(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/verify-email/resend", json={"email": email})
    assert response.status_code == 202, response.text
    assert response.json() == ACCEPTED


async def test_signup_mails_a_code_and_login_waits_for_it(
    confirming_service: MailingService,
) -> None:
    client = confirming_service.client
    email = unique_email("verify")
    created = await sign_up(client, email)
    assert created.status_code == 201, created.text
    assert created.json()["email_confirmed_at"] is None
    assert "access_token" not in created.json()
    mail = await verification_mail(confirming_service, email)
    assert mail.link == "http://localhost:3000/verify-email"

    assert_problem(await log_in(client, email), 403, "email_not_confirmed")

    verified = await client.post("/verify-email", json={"email": email, "code": mail.code})
    assert verified.status_code == 200, verified.text
    assert verified.headers["cache-control"] == "no-store"
    assert verified.json()["user"]["email_confirmed_at"] is not None
    assert verified.json()["refresh_token"]
    assert (await log_in(client, email)).status_code == 200
    # Used up.
    again = await client.post("/verify-email", json={"email": email, "code": mail.code})
    assert_problem(again, 400, "invalid_code")


async def test_the_link_verifies_too(confirming_service: MailingService) -> None:
    client = confirming_service.client
    email = unique_email("verify-link")
    assert (await sign_up(client, email)).status_code == 201
    mail = await verification_mail(confirming_service, email)
    verified = await client.post("/verify-email", json={"token": mail.token})
    assert verified.status_code == 200, verified.text
    assert (await log_in(client, email)).status_code == 200


async def test_a_resent_code_replaces_the_first(confirming_service: MailingService) -> None:
    client = confirming_service.client
    email = unique_email("resend")
    assert (await sign_up(client, email)).status_code == 201
    first = await verification_mail(confirming_service, email)
    await resend(client, email)
    second = await verification_mail(confirming_service, email, count=2)
    stale = await client.post("/verify-email", json={"email": email, "code": first.code})
    assert_problem(stale, 400, "invalid_code")
    fresh = await client.post("/verify-email", json={"email": email, "code": second.code})
    assert fresh.status_code == 200, fresh.text


async def test_resend_answers_alike_and_mails_only_unverified_addresses(
    confirming_service: MailingService,
) -> None:
    client = confirming_service.client
    verified, unknown = unique_email("done"), unique_email("nobody")
    assert (await sign_up(client, verified)).status_code == 201
    mail = await verification_mail(confirming_service, verified)
    assert (
        await client.post("/verify-email", json={"email": verified, "code": mail.code})
    ).status_code == 200

    answers = set()
    for email in (verified, unknown):
        response = await client.post("/verify-email/resend", json={"email": email})
        answers.add((response.status_code, response.content))
    assert answers == {(202, b'{"message":"' + ACCEPTED["message"].encode() + b'"}')}
    await asyncio.sleep(1.0)  # the worker polls every 0.1 s here
    assert len(confirming_service.smtp.messages_to(verified)) == 1
    assert confirming_service.smtp.messages_to(unknown) == []


async def test_five_wrong_codes_kill_a_verification_code(
    confirming_service: MailingService,
) -> None:
    client = confirming_service.client
    email = unique_email("verify-guess")
    assert (await sign_up(client, email)).status_code == 201
    mail = await verification_mail(confirming_service, email)
    wrong = f"{(int(mail.code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        guess = await client.post("/verify-email", json={"email": email, "code": wrong})
        assert_problem(guess, 400, "invalid_code")
    right = await client.post("/verify-email", json={"email": email, "code": mail.code})
    assert_problem(right, 400, "invalid_code")
    assert_problem(await log_in(client, email), 403, "email_not_confirmed")


async def test_with_confirmation_off_signup_is_confirmed_and_mails_nothing(
    mailing_service: MailingService,
) -> None:
    client = mailing_service.client
    email = unique_email("off")
    created = await sign_up(client, email)
    assert created.status_code == 201
    assert created.json()["email_confirmed_at"] is not None
    assert (await log_in(client, email)).status_code == 200
    await resend(client, email)
    await asyncio.sleep(1.0)
    assert mailing_service.smtp.messages_to(email) == []
