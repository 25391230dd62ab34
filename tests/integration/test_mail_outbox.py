"""The outbox and its worker on each store (a SQLite file, PostgreSQL), delivering to the real
SMTP server process: settling, retries through an outage and a refused password, giving up,
leases after a worker dies, two replicas draining one outbox, metrics, and logs that never
carry a code or a link."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auth_backend.errors import ProviderUnavailable
from auth_backend.mail import (
    MailDeliveryFailed,
    MailTemplates,
    OutboxWorker,
    OutgoingMail,
    SmtpTransport,
    Transport,
    enqueue,
)
from auth_backend.mail.messages import Envelope
from auth_backend.observability import metrics
from auth_backend.settings import to_async_database_url
from auth_backend.store.database import Database, open_database
from auth_backend.store.migrations import migrate
from auth_backend.store.schema import outbox
from doubles.smtp import SmtpServer
from tests.support.accounts import unique_email
from tests.support.observability import captured_log_lines, metric_sample
from tests.support.postgres import POSTGRES, SQLITE, PostgresServer

MAIL_FROM = "Acme <no-reply@acme.test>"
TEMPLATES = MailTemplates(None, "Acme")

STORES = [SQLITE, pytest.param(POSTGRES, marks=pytest.mark.postgres)]


class MigratedStores:
    """Per session, made on first use: a migrated SQLite file that each test copies, and one
    migrated PostgreSQL database that each test finds with an empty outbox (migrating takes a
    second; copying or emptying, milliseconds)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sqlite_template: Path | None = None
        self.postgres: tuple[PostgresServer, str] | None = None

    async def sqlite_copy(self, destination: Path) -> str:
        if self.sqlite_template is None:
            template = self.directory / "auth.db"
            await _migrate(f"sqlite:///{template}")
            self.sqlite_template = template
        shutil.copyfile(self.sqlite_template, destination)
        return to_async_database_url(f"sqlite:///{destination}")

    async def postgres_emptied(self, server: PostgresServer) -> str:
        if self.postgres is None:
            url = await server.create_database()
            self.postgres = (server, url)
            await _migrate(url)
        url = to_async_database_url(self.postgres[1])
        database = open_database(url)
        try:
            await database.write(_empty_outbox)
        finally:
            await database.aclose()
        return url


async def _migrate(url: str) -> None:
    database = open_database(to_async_database_url(url))
    try:
        await migrate(database)
    finally:
        await database.aclose()


def _empty_outbox(connection: Connection) -> None:
    connection.execute(outbox.delete())


@pytest.fixture(scope="session")
def migrated_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedStores]:
    stores = MigratedStores(tmp_path_factory.mktemp("outbox-template"))
    yield stores
    if stores.postgres is not None:
        server, url = stores.postgres
        # Outside the tests' event loop: session teardown runs no loop of its own here.
        asyncio.run(server.drop_database(url))


@pytest.fixture(params=STORES)
async def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_stores: MigratedStores
) -> str:
    """A migrated store of each kind with an empty outbox; its async URL."""
    if request.param == SQLITE:
        return await migrated_stores.sqlite_copy(tmp_path / "auth.db")
    return await migrated_stores.postgres_emptied(request.getfixturevalue("postgres_server"))


@pytest.fixture
async def database(store_url: str) -> AsyncIterator[Database]:
    database = open_database(store_url)
    yield database
    await database.aclose()


def smtp_transport(server: SmtpServer, **url: Any) -> SmtpTransport:
    address = server.url_with(**url) if url else server.url
    return SmtpTransport.from_url(address, timeout=2.0, ca_file=server.ca_file)


def make_worker(database: Database, transport: Transport, **overrides: Any) -> OutboxWorker:
    options: dict[str, Any] = {
        "mail_from": MAIL_FROM,
        "max_attempts": 5,
        "retry_base": 0.05,
        "retry_max": 0.2,
        "poll_interval": 0.05,
        "lease_seconds": 30.0,
        "send_timeout": 5.0,
    }
    options.update(overrides)
    return OutboxWorker(database, transport, **options)


def mail_for(recipient: str) -> tuple[OutgoingMail, str, str]:
    """A rendered recovery mail for `recipient`, with its (unique) code and link."""
    code = f"{secrets.randbelow(10**6):06d}"
    link = f"https://app.acme.test/reset-password#token={secrets.token_urlsafe(16)}"
    mail = TEMPLATES.render("recovery", recipient, code=code, link=link, expires_in_seconds=600)
    return mail, code, link


async def put(database: Database, mail: OutgoingMail) -> int:
    return await database.write(enqueue, mail, datetime.now(UTC))


def _row(connection: Connection, row_id: int) -> sa.Row[Any]:
    return connection.execute(sa.select(outbox).where(outbox.c.id == row_id)).one()


async def row_of(database: Database, row_id: int) -> sa.Row[Any]:
    return await database.read(_row, row_id)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.02)


def assert_settled_without_bodies(row: sa.Row[Any], status: str) -> None:
    assert row.status == status
    assert (row.body_text, row.body_html) == ("", "")


# --- the straight path --------------------------------------------------------------------


async def test_an_enqueued_mail_is_sent_and_its_row_settled_without_its_bodies(
    database: Database, smtp_server: SmtpServer
) -> None:
    recipient = unique_email("outbox")
    mail, code, link = mail_for(recipient)
    row_id = await put(database, mail)
    pending = await row_of(database, row_id)
    assert (pending.status, pending.attempts) == ("pending", 0)
    assert code in pending.body_text

    worker = make_worker(database, smtp_transport(smtp_server))
    assert await worker.run_once() == 1

    row = await row_of(database, row_id)
    assert_settled_without_bodies(row, "sent")
    assert row.attempts == 1
    assert row.sent_at is not None
    assert row.subject == mail.subject
    received = await smtp_server.wait_for(recipient)
    assert received["From"] == MAIL_FROM
    assert received["Subject"] == mail.subject
    assert received["Message-ID"].startswith(f"<outbox.{row_id}.")
    assert received["Message-ID"].endswith("@acme.test>")
    plain, html = received.get_body(("plain",)), received.get_body(("html",))
    assert plain is not None and html is not None
    assert code in plain.get_content() and link in plain.get_content()
    assert code in html.get_content()
    # Settled once: nothing is due any more.
    assert await worker.run_once() == 0
    assert len(smtp_server.messages_to(recipient)) == 1


async def test_a_started_worker_sends_at_once_when_woken(
    database: Database, smtp_server: SmtpServer
) -> None:
    # A poll interval far beyond the wait below: only wake() can explain a prompt delivery.
    worker = make_worker(database, smtp_transport(smtp_server), poll_interval=30.0)
    await worker.start()
    try:
        await asyncio.sleep(0.1)  # the worker's first look found nothing and went to sleep
        recipient = unique_email("wake")
        await put(database, mail_for(recipient)[0])
        worker.wake()
        await smtp_server.wait_for(recipient, timeout=5.0)
    finally:
        await worker.stop()
    assert not worker.running


# --- failures -----------------------------------------------------------------------------


async def test_a_server_outage_is_recorded_retried_with_backoff_and_the_mail_arrives_once(
    database: Database, smtp_server: SmtpServer
) -> None:
    smtp_server.stop()
    recipient = unique_email("outage")
    row_id = await put(database, mail_for(recipient)[0])
    worker = make_worker(database, smtp_transport(smtp_server), retry_base=0.1, retry_max=0.4)
    await worker.start()
    try:
        seen: list[tuple[int, datetime]] = []

        async def retried_three_times() -> bool:
            row = await row_of(database, row_id)
            if not seen or seen[-1][0] != row.attempts:
                seen.append((row.attempts, row.next_attempt_at))
            return bool(row.attempts >= 3)

        await eventually(retried_three_times, what="three failed attempts")
        row = await row_of(database, row_id)
        assert row.status == "pending"
        assert row.last_error.startswith("SMTPConnectError")
        assert row.body_text != ""

        smtp_server.start()
        await smtp_server.wait_for(recipient)

        async def sent() -> bool:
            return bool((await row_of(database, row_id)).status == "sent")

        await eventually(sent, what="the row settled as sent")
        await asyncio.sleep(0.2)  # a few more polls: nothing more goes out
    finally:
        await worker.stop()
    assert len(smtp_server.messages_to(recipient)) == 1
    row = await row_of(database, row_id)
    assert_settled_without_bodies(row, "sent")
    assert row.attempts >= 4
    # Backoff: each wait longer than the one before (0.1 s, then 0.2 s, within the jitter).
    times = [at for attempts, at in seen if attempts >= 1]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert gaps and all(gap >= 0.15 for gap in gaps)


async def test_a_refused_password_is_recorded_and_retried_until_the_server_takes_it(
    database: Database, smtp_server: SmtpServer
) -> None:
    configured = smtp_server.password
    # The service keeps the password it was given; the server now wants another.
    worker = make_worker(database, smtp_transport(smtp_server))
    smtp_server.restart(password="rotated-by-the-provider")
    recipient = unique_email("auth")
    row_id = await put(database, mail_for(recipient)[0])
    await worker.start()
    try:

        async def refused_twice() -> bool:
            return bool((await row_of(database, row_id)).attempts >= 2)

        await eventually(refused_twice, what="two refused attempts")
        row = await row_of(database, row_id)
        assert row.status == "pending"
        assert row.last_error.startswith("SMTPAuthenticationError: 535")
        assert configured not in row.last_error
        assert smtp_server.messages() == []

        smtp_server.restart(password=configured)
        await smtp_server.wait_for(recipient)

        async def sent() -> bool:
            return bool((await row_of(database, row_id)).status == "sent")

        await eventually(sent, what="the row settled as sent")
    finally:
        await worker.stop()


async def test_a_mail_is_given_up_after_the_last_attempt_and_keeps_why(
    database: Database, smtp_server: SmtpServer
) -> None:
    smtp_server.stop()
    row_id = await put(database, mail_for(unique_email("giveup"))[0])
    worker = make_worker(database, smtp_transport(smtp_server), max_attempts=2, retry_max=0.05)
    assert await worker.run_once() == 0
    assert (await row_of(database, row_id)).status == "pending"

    async def given_up() -> bool:
        await worker.run_once()
        return bool((await row_of(database, row_id)).status == "failed")

    await eventually(given_up, what="the mail given up")
    row = await row_of(database, row_id)
    assert_settled_without_bodies(row, "failed")
    assert row.attempts == 2
    assert row.last_error.startswith("SMTPConnectError")
    assert row.sent_at is None
    assert await worker.run_once() == 0


class RefusingTransport:
    """Refuses every mail for good, as a server refusing the recipient with 550 would."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: Envelope) -> None:
        self.calls += 1
        raise MailDeliveryFailed("SMTPRecipientsRefused: 550 no such user", permanent=True)

    async def aclose(self) -> None:
        return None


async def test_a_permanent_refusal_gives_the_mail_up_at_once(database: Database) -> None:
    row_id = await put(database, mail_for(unique_email("refused"))[0])
    transport = RefusingTransport()
    worker = make_worker(database, transport, max_attempts=5)
    assert await worker.run_once() == 0
    row = await row_of(database, row_id)
    assert_settled_without_bodies(row, "failed")
    assert (row.attempts, row.last_error) == (1, "SMTPRecipientsRefused: 550 no such user")
    assert transport.calls == 1


class HangingTransport:
    """Never finishes a send: a worker stuck mid-send."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def send(self, message: Envelope) -> None:
        self.entered.set()
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        return None


async def test_a_worker_killed_mid_send_leaves_the_row_to_be_claimed_after_the_lease(
    database: Database, smtp_server: SmtpServer
) -> None:
    recipient = unique_email("lease")
    row_id = await put(database, mail_for(recipient)[0])
    hanging = HangingTransport()
    doomed = make_worker(database, hanging, lease_seconds=1.0, send_timeout=0.9, batch_size=1)
    task = asyncio.create_task(doomed.run_once())
    await asyncio.wait_for(hanging.entered.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    claimed_at = time.monotonic()

    row = await row_of(database, row_id)
    assert (row.status, row.attempts) == ("pending", 0)
    survivor = make_worker(database, smtp_transport(smtp_server))
    # Still leased to the dead worker.
    assert await survivor.run_once() == 0

    async def sent_by_the_survivor() -> bool:
        return await survivor.run_once() == 1

    await eventually(sent_by_the_survivor, what="the row claimed again")
    assert time.monotonic() - claimed_at >= 0.5
    await smtp_server.wait_for(recipient)
    assert (await row_of(database, row_id)).status == "sent"


class FlakyDatabase:
    """A Database whose first `outages` claims find the database unavailable."""

    def __init__(self, database: Database, outages: int) -> None:
        self._database = database
        self.outages = outages

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)

    async def write_exclusive(self, operation: Any, *args: Any) -> Any:
        if self.outages > 0:
            self.outages -= 1
            raise ProviderUnavailable("The user database does not answer.")
        return await self._database.write_exclusive(operation, *args)


async def test_a_database_outage_makes_the_worker_wait_not_die(
    database: Database, smtp_server: SmtpServer
) -> None:
    recipient = unique_email("dbdown")
    await put(database, mail_for(recipient)[0])
    flaky = FlakyDatabase(database, outages=3)
    worker = make_worker(flaky, smtp_transport(smtp_server))  # type: ignore[arg-type]
    with captured_log_lines() as lines:
        await worker.start()
        try:
            await smtp_server.wait_for(recipient)
            assert worker.running
        finally:
            await worker.stop()
    assert flaky.outages == 0
    unavailable = [line for line in lines() if "database is unavailable" in line["message"]]
    assert len(unavailable) == 3


# --- replicas -----------------------------------------------------------------------------


async def test_two_replicas_drain_one_outbox_delivering_each_mail_exactly_once(
    store_url: str, smtp_server: SmtpServer
) -> None:
    count = 200 if store_url.startswith("postgresql") else 120
    replicas = [open_database(store_url), open_database(store_url)]
    recipients = [unique_email(f"replica{n}") for n in range(count)]
    mails = [mail_for(recipient)[0] for recipient in recipients]

    def enqueue_all(connection: Connection) -> None:
        now = datetime.now(UTC)
        for mail in mails:
            enqueue(connection, mail, now)

    await replicas[0].write(enqueue_all)
    sends: list[Counter[str]] = [Counter(), Counter()]

    class CountingTransport:
        def __init__(self, inner: SmtpTransport, tally: Counter[str]) -> None:
            self._inner, self._tally = inner, tally

        async def send(self, message: Envelope) -> None:
            await self._inner.send(message)
            self._tally[message.recipient] += 1

        async def aclose(self) -> None:
            return None

    workers = [
        make_worker(database, CountingTransport(smtp_transport(smtp_server), tally))
        for database, tally in zip(replicas, sends, strict=True)
    ]
    try:
        for worker in workers:
            await worker.start()
        await smtp_server.wait_for_count(count, timeout=40)
        await asyncio.sleep(0.2)  # a few more polls: nothing is sent twice
    finally:
        for worker in workers:
            await worker.stop()
        for database in replicas:
            await database.aclose()

    received = Counter(str(message["To"]) for message in smtp_server.messages())
    assert received == Counter(recipients)
    assert sends[0] + sends[1] == Counter(recipients)
    # Both replicas took part.
    assert sends[0] and sends[1]

    def statuses(connection: Connection) -> Counter[str]:
        rows = connection.execute(sa.select(outbox.c.status, outbox.c.body_text)).all()
        return Counter(f"{row.status}:{row.body_text == ''}" for row in rows)

    check = open_database(store_url)
    try:
        assert await check.read(statuses) == Counter({"sent:True": count})
    finally:
        await check.aclose()


# --- metrics and logs ---------------------------------------------------------------------


def sample(name: str, **labels: str) -> float:
    return metric_sample(metrics.render().decode(), name, **labels)


async def test_delivery_metrics_count_sends_and_failures_and_gauge_the_backlog(
    database: Database, smtp_server: SmtpServer
) -> None:
    def delta_of(name: str, **labels: str) -> Callable[[], float]:
        before = sample(name, **labels)
        return lambda: sample(name, **labels) - before

    sent = delta_of("auth_backend_mail_sent_total", kind="recovery")
    retried = delta_of("auth_backend_mail_failed_total", kind="recovery", final="false")
    given_up = delta_of("auth_backend_mail_failed_total", kind="recovery", final="true")

    smtp_server.stop()
    await put(database, mail_for(unique_email("metrics"))[0])
    await put(database, mail_for(unique_email("metrics"))[0])
    worker = make_worker(database, smtp_transport(smtp_server), retry_max=0.05)
    await asyncio.sleep(0.1)
    await worker.refresh_gauges()
    assert sample("auth_backend_outbox_depth") == 2
    assert sample("auth_backend_outbox_oldest_unsent_seconds") >= 0.1

    assert await worker.run_once() == 0
    assert (retried(), sent(), given_up()) == (2, 0, 0)

    smtp_server.start()
    delivered = 0

    async def both_sent() -> bool:
        nonlocal delivered
        delivered += await worker.run_once()
        return delivered == 2

    await eventually(both_sent, what="both mails sent")
    await worker.refresh_gauges()
    assert (retried(), sent(), given_up()) == (2, 2, 0)
    assert sample("auth_backend_outbox_depth") == 0
    assert sample("auth_backend_outbox_oldest_unsent_seconds") == 0

    await put(database, mail_for(unique_email("metrics"))[0])
    assert await make_worker(database, RefusingTransport()).run_once() == 0
    assert (retried(), sent(), given_up()) == (2, 2, 1)


async def test_no_log_line_carries_a_code_or_a_link(
    database: Database, smtp_server: SmtpServer
) -> None:
    recipient = unique_email("logs")
    mail, code, link = mail_for(recipient)
    token = link.rpartition("=")[2]
    worker = make_worker(database, smtp_transport(smtp_server))
    with captured_log_lines() as lines:
        smtp_server.stop()
        row_id = await put(database, mail)
        assert await worker.run_once() == 0  # fails: the server is down
        smtp_server.start()

        async def sent() -> bool:
            return await worker.run_once() == 1

        await eventually(sent, what="the mail sent")
        await smtp_server.wait_for(recipient)
    text = "\n".join(json.dumps(line) for line in lines())
    # The lines are there, and name the row...
    messages = [line["message"] for line in lines()]
    assert any(f"outbox mail {row_id} (recovery) attempt 1 failed" in m for m in messages)
    assert any(f"outbox mail {row_id} (recovery) sent on attempt 2" in m for m in messages)
    # ...and never what the mail carries.
    assert code not in text
    assert token not in text
    assert "reset-password" not in text
