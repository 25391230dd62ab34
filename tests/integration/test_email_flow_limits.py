"""The mailed-code routes are limited per client IP and per address, the address limit counted
for unknown addresses exactly as for known ones (so a 429 reveals nothing either)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from doubles.smtp import SmtpServer
from tests.integration.conftest import PROVIDERS, MailingService, start_mailing_service
from tests.support.accounts import new_session, unique_email
from tests.support.problems import assert_problem


@pytest.fixture(params=PROVIDERS)
async def limited_service(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer
) -> AsyncIterator[MailingService]:
    async for service in start_mailing_service(
        request,
        tmp_path,
        smtp_server,
        throttle_email_send_per_address="2/minute",
        throttle_email_send_per_ip="6/minute",
        throttle_code_check_per_address="3/minute",
        throttle_code_check_per_ip="8/minute",
    ):
        yield service


async def test_the_address_limit_counts_known_and_unknown_addresses_alike(
    limited_service: MailingService,
) -> None:
    client = limited_service.client
    known, unknown = unique_email("known"), unique_email("nobody")
    await new_session(client, known)
    statuses = {
        email: [
            (await client.post(path, json={"email": email})).status_code
            for path in ("/recover", "/verify-email/resend", "/recover")
        ]
        for email in (known, unknown)
    }
    # Recovery and resend share the address's budget; the third request is refused, alike.
    assert statuses == {known: [202, 202, 429], unknown: [202, 202, 429]}
    refused = await client.post("/recover", json={"email": unknown})
    problem = assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) > 0
    assert problem["detail"]


async def test_the_ip_limit_covers_every_address(limited_service: MailingService) -> None:
    client = limited_service.client
    statuses = [
        (await client.post("/recover", json={"email": unique_email("spray")})).status_code
        for _ in range(7)
    ]
    assert statuses == [202] * 6 + [429]


async def test_codes_presented_are_limited_per_address_and_per_ip(
    limited_service: MailingService,
) -> None:
    client = limited_service.client
    email = unique_email("checks")
    guesses = [
        (await client.post("/verify-email", json={"email": email, "code": "000000"})).status_code
        for _ in range(4)
    ]
    assert guesses == [400, 400, 400, 429]
    tokens = [
        (await client.post("/verify-email", json={"token": "B" * 43})).status_code for _ in range(5)
    ]
    # Four of the IP's eight went on the guesses above.
    assert tokens == [400, 400, 400, 400, 429]
