"""Asking for a recovery or verification mail takes as long for an address with an account as
for one without: measured as an attacker would, interleaved, with Welch's t, on every provider.

Both branches do the same lookup and the same write (email_flows.py); the known one also makes
a code and renders a mail, and on Supabase, generate_link's work for a real account. The floor
(EMAIL_REQUEST_MIN_SECONDS, security/timing.py) covers what remains; the Supabase test that
makes the known branch clearly slower fails without it."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from doubles.smtp import SmtpServer
from doubles.supabase import SupabaseDouble
from tests.integration.conftest import (
    PROVIDERS,
    MailingService,
    mail_settings,
    start_mailing_service,
)
from tests.support.accounts import new_session, sign_up, unique_email
from tests.support.services import running_app, supabase_settings
from tests.support.timing import indistinguishable

ROUNDS = 24
FLOOR_SECONDS = 0.08


@pytest.fixture(params=PROVIDERS)
async def floored_service(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer
) -> AsyncIterator[MailingService]:
    async for service in start_mailing_service(
        request, tmp_path, smtp_server, email_request_min_seconds=FLOOR_SECONDS
    ):
        yield service


@pytest.fixture(params=PROVIDERS)
async def floored_confirming_service(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer
) -> AsyncIterator[MailingService]:
    async for service in start_mailing_service(
        request,
        tmp_path,
        smtp_server,
        email_request_min_seconds=FLOOR_SECONDS,
        email_confirmation="required",
    ):
        yield service


async def durations(
    client: httpx.AsyncClient, path: str, known: str
) -> tuple[dict[str, list[float]], set[tuple[int, bytes]]]:
    samples: dict[str, list[float]] = {"known": [], "unknown": []}
    answers: set[tuple[int, bytes]] = set()
    order = random.Random(2026)
    for _ in range(ROUNDS):
        kinds = ["known", "unknown"]
        order.shuffle(kinds)
        for kind in kinds:
            email = known if kind == "known" else unique_email("ghost")
            started = time.perf_counter()
            response = await client.post(path, json={"email": email})
            samples[kind].append(time.perf_counter() - started)
            answers.add((response.status_code, response.content))
    return samples, answers


async def test_recovery_requests_take_as_long_for_unknown_addresses(
    floored_service: MailingService,
) -> None:
    known = unique_email("known")
    await new_session(floored_service.client, known)
    samples, answers = await durations(floored_service.client, "/recover", known)
    assert len(answers) == 1 and next(iter(answers))[0] == 202
    alike, ratio, t = indistinguishable(samples["known"], samples["unknown"])
    assert alike, (ratio, t)


async def test_verification_resends_take_as_long_for_unknown_addresses(
    floored_confirming_service: MailingService,
) -> None:
    service = floored_confirming_service
    # Signed up with confirmation required: unverified, the only kind a resend mails.
    known = unique_email("unverified")
    assert (await sign_up(service.client, known)).status_code == 201
    samples, answers = await durations(service.client, "/verify-email/resend", known)
    assert len(answers) == 1 and next(iter(answers))[0] == 202
    alike, ratio, t = indistinguishable(samples["known"], samples["unknown"])
    assert alike, (ratio, t)
    # The known address was really mailed again (or the comparison would prove nothing).
    assert len(await service.smtp.wait_for_count(2)) >= 2


@pytest.mark.parametrize("padded", [True, False])
async def test_the_floor_hides_a_slow_known_branch(
    padded: bool, supabase_double: SupabaseDouble, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    # Supabase's generate_link writes a token for a real account and answers 404 at once for
    # an unknown address: 40 ms apart here. The floor hides that; with its padding taken out
    # (the control case), the same measurement tells the two apart.
    supabase_double.configure(token_write_latency=0.04)
    settings = supabase_settings(
        supabase_double,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        **mail_settings(smtp_server, email_request_min_seconds=0.0),
    )
    async with running_app(settings) as (app, client):
        if not padded:
            app.state.auth._emails._request_floor = _NoFloor()
        known = unique_email("known")
        await new_session(client, known)
        samples, _answers = await durations(client, "/recover", known)
    alike, ratio, t = indistinguishable(samples["known"], samples["unknown"])
    assert alike == padded, (padded, ratio, t)


class _NoFloor:
    async def pad(self, started: float) -> None:
        return None
