"""The SMTP transport against a real server process (doubles/smtp): STARTTLS and AUTH required,
a certificate only the given CA file vouches for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auth_backend.mail import MailDeliveryFailed, SmtpTransport
from auth_backend.mail.messages import Envelope, compose
from doubles.smtp import SmtpServer, make_certificate
from doubles.smtp.pytest_plugin import MakeSmtpServer
from tests.support.accounts import unique_email

TIMEOUT = 2.0


def message_to(recipient: str) -> Envelope:
    return compose(
        mail_from="Acme <no-reply@acme.test>",
        recipient=recipient,
        subject="Confirm your email address for Acme",
        text="Your code is 123456\nhttps://app.acme.test/verify-email#token=t0k3n",
        html='<p>Your code is <b>123456</b></p><a href="https://app.acme.test/">confirm</a>',
        msg_id="<outbox.7.20260101000000000000@acme.test>",
        date=datetime.now(UTC),
    )


def transport(url: str, ca_file: str | None) -> SmtpTransport:
    return SmtpTransport.from_url(url, timeout=TIMEOUT, ca_file=ca_file)


async def test_a_mail_arrives_over_starttls_with_auth(smtp_server: SmtpServer) -> None:
    recipient = unique_email("smtp")
    await transport(smtp_server.url, smtp_server.ca_file).send(message_to(recipient))

    received = await smtp_server.wait_for(recipient)
    assert received["From"] == "Acme <no-reply@acme.test>"
    assert received["To"] == recipient
    assert received["Subject"] == "Confirm your email address for Acme"
    assert received["Message-ID"] == "<outbox.7.20260101000000000000@acme.test>"
    assert received.get_content_type() == "multipart/alternative"
    plain, html = received.get_body(("plain",)), received.get_body(("html",))
    assert plain is not None and html is not None
    assert "123456" in plain.get_content()
    assert "<b>123456</b>" in html.get_content()


async def test_the_server_really_demands_tls_and_auth(smtp_server: SmtpServer) -> None:
    """The double is what the other tests rely on: without STARTTLS it refuses to go on."""
    plain = transport(smtp_server.url_with(password=None, starttls="none"), smtp_server.ca_file)
    with pytest.raises(MailDeliveryFailed) as caught:
        await plain.send(message_to(unique_email("plain")))
    assert not caught.value.permanent
    assert smtp_server.messages() == []


async def test_a_refused_password_is_a_retryable_failure_that_names_no_password(
    smtp_server: SmtpServer,
) -> None:
    wrong = "wr0ng-Pa55word"
    with pytest.raises(MailDeliveryFailed) as caught:
        await transport(smtp_server.url_with(password=wrong), smtp_server.ca_file).send(
            message_to(unique_email("auth"))
        )
    failure = caught.value
    assert not failure.permanent
    assert failure.reason.startswith("SMTPAuthenticationError: 535")
    assert wrong not in failure.reason
    assert smtp_server.password not in failure.reason
    assert smtp_server.messages() == []


async def test_a_stopped_server_is_a_transient_failure_within_the_timeout(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.stop()
    started = time.monotonic()
    with pytest.raises(MailDeliveryFailed) as caught:
        await transport(smtp_server.url, smtp_server.ca_file).send(message_to(unique_email()))
    assert time.monotonic() - started < TIMEOUT + 1
    assert not caught.value.permanent
    assert caught.value.reason.startswith("SMTPConnectError")


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never says a word (a hung server); its port."""
    connections: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in connections:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_hung_server_is_a_transient_failure_within_the_timeout(silent_server: int) -> None:
    started = time.monotonic()
    with pytest.raises(MailDeliveryFailed) as caught:
        await SmtpTransport.from_url(f"smtp://u:p@127.0.0.1:{silent_server}", timeout=0.5).send(
            message_to(unique_email())
        )
    assert time.monotonic() - started < 2.0
    assert not caught.value.permanent
    assert "Timeout" in caught.value.reason


async def test_a_certificate_no_trusted_authority_vouches_for_is_refused(
    smtp_server: SmtpServer,
) -> None:
    """TLS verification is really on: without SMTP_CA_FILE the self-signed certificate is not
    trusted, and nothing is sent (so neither is the password)."""
    with pytest.raises(MailDeliveryFailed) as caught:
        await transport(smtp_server.url, ca_file=None).send(message_to(unique_email()))
    assert not caught.value.permanent
    assert "certificate" in caught.value.reason.lower()
    assert smtp_server.messages() == []


async def test_the_certificate_must_name_the_host(
    make_smtp_server: MakeSmtpServer, tmp_path: Path
) -> None:
    """A certificate the CA file vouches for, but issued to another name than the one
    connected to (127.0.0.1), is refused: the host name is checked, not only the chain."""
    elsewhere = make_certificate(
        tmp_path / "elsewhere", ip_addresses=(), dns_names=("mail.example.test",)
    )
    server = make_smtp_server(certificate=elsewhere)
    with pytest.raises(MailDeliveryFailed) as caught:
        await transport(server.url, server.ca_file).send(message_to(unique_email()))
    assert "mismatch" in caught.value.reason.lower()
    assert server.messages() == []


async def test_implicit_tls_smtps(make_smtp_server: MakeSmtpServer) -> None:
    server = make_smtp_server(implicit_tls=True)
    recipient = unique_email("smtps")
    await transport(server.smtps_url, server.ca_file).send(message_to(recipient))
    assert (await server.wait_for(recipient))["To"] == recipient


async def test_mails_share_one_connection_which_a_restarted_server_does_not_break(
    smtp_server: SmtpServer,
) -> None:
    # One connection for a backlog: connecting (TCP, STARTTLS, AUTH) costs more than a mail.
    sender = transport(smtp_server.url, smtp_server.ca_file)
    first, second, third = (unique_email(name) for name in ("one", "two", "three"))
    try:
        await sender.send(message_to(first))
        connection = sender._client
        await sender.send(message_to(second))
        assert connection is not None and sender._client is connection
        # The server goes away and comes back: the kept connection is dead, and the next mail
        # goes out on a new one without failing.
        smtp_server.restart()
        await sender.send(message_to(third))
        assert sender._client is not connection
    finally:
        await sender.aclose()
    for recipient in (first, second, third):
        assert await smtp_server.wait_for(recipient)
    assert sender._client is None
