"""SMTP_URL parsing (and its check at start-up), the .eml file transport and the choice of
transport from the settings."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import ValidationError

from auth_backend.mail import FileTransport, SmtpTransport, transport_for
from auth_backend.mail.messages import Envelope, compose
from auth_backend.mail.smtp_url import parse_smtp_url
from auth_backend.settings import Settings, describe_settings_error

SECRET = "s3cr%2Ft"  # "s3cr/t", percent-encoded


def test_smtp_url_forms() -> None:
    default = parse_smtp_url(f"smtp://mailer%40corp:{SECRET}@mail.example.test")
    assert (default.hostname, default.port, default.starttls) == (
        "mail.example.test",
        587,
        "required",
    )
    assert not default.implicit_tls
    assert (default.username, default.password) == ("mailer@corp", "s3cr/t")
    assert "s3cr" not in repr(default)

    opportunistic = parse_smtp_url("smtp://relay.internal:25?starttls=opportunistic")
    assert (opportunistic.port, opportunistic.starttls) == (25, "opportunistic")
    assert opportunistic.username is None and opportunistic.password is None
    assert parse_smtp_url("smtp://relay:25?starttls=none").starttls == "none"

    implicit = parse_smtp_url("smtps://u:p@mail.example.test")
    assert (implicit.port, implicit.implicit_tls, implicit.starttls) == (465, True, "none")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://u:hunter2@host", "scheme"),
        ("smtp://u:hunter2@:25", "no host"),
        ("smtp://u:hunter2@host?starttls=maybe", "starttls must be"),
        ("smtps://u:hunter2@host?starttls=required", "takes no starttls"),
        ("smtp://u:hunter2@host?tls=1", "unknown parameter"),
        ("smtp://u:hunter2@host/path", "no path"),
        ("smtp://u:hunter2@host:99999", "not a valid URL"),
    ],
)
def test_a_bad_smtp_url_is_one_line_naming_the_variable_never_the_password(
    url: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(smtp_url=url)
    line = describe_settings_error(caught.value)
    assert line.startswith("invalid configuration: SMTP_URL: ")
    assert message in line
    assert "hunter2" not in line
    assert "\n" not in line


def test_transport_for_picks_smtp_when_a_url_is_set_else_files(tmp_path: Path) -> None:
    files = transport_for(Settings(mail_dir=str(tmp_path / "mail")))
    assert isinstance(files, FileTransport)
    assert files.directory == tmp_path / "mail"
    smtp = transport_for(Settings(smtp_url="smtps://u:hunter2@mail.example.test"))
    assert isinstance(smtp, SmtpTransport)
    assert smtp.endpoint.implicit_tls
    assert "hunter2" not in repr(smtp)


def _message() -> Envelope:
    return compose(
        mail_from="Acme <no-reply@acme.test>",
        recipient="ada@example.test",
        subject="Reset your Acme password",
        text="Your code is 123456",
        html="<p>Your code is <b>123456</b></p>",
        msg_id="<outbox.1.20260101000000000000@acme.test>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def test_the_file_transport_writes_each_mail_as_a_parseable_eml(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet" / "there"
    transport = FileTransport(folder)
    await transport.send(_message())
    await transport.send(_message())
    written = sorted(folder.iterdir())
    # No temporary files left behind, one .eml per mail.
    assert [path.suffix for path in written] == [".eml", ".eml"]
    parsed = email.message_from_bytes(written[0].read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["To"] == "ada@example.test"
    assert parsed["From"] == "Acme <no-reply@acme.test>"
    assert parsed["Subject"] == "Reset your Acme password"
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and html is not None
    assert "123456" in plain.get_content()
    assert "<b>123456</b>" in html.get_content()
    await transport.aclose()


def test_a_header_with_a_line_break_cannot_be_composed() -> None:
    with pytest.raises(ValueError):
        compose(
            mail_from="a@acme.test",
            recipient="ada@example.test\r\nBcc: eve@evil.test",
            subject="s",
            text="t",
            html="h",
            msg_id="<1@acme.test>",
            date=datetime(2026, 1, 1, tzinfo=UTC),
        )
