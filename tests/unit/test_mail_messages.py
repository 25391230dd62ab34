"""The message `compose` writes out by hand reads back, through the email package's own
parser, as the multipart/alternative mail it claims to be: headers, both parts, non-ASCII
names and subjects, and no way to inject a header."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from auth_backend.mail.messages import compose

DATE = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def parsed(**overrides: str) -> tuple[EmailMessage, bytes]:
    values = {
        "mail_from": "auth-backend <no-reply@example.com>",
        "recipient": "ada@example.com",
        "subject": "Reset your password",
        "text": "Your code is: 042917\nline two",
        "html": "<p>Your code is: <b>042917</b></p>",
        "msg_id": "<outbox.7.20261202093000000000@example.com>",
        **overrides,
    }
    envelope = compose(date=DATE, **values)
    message = message_from_bytes(envelope.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message, envelope.data


def test_headers_and_both_parts_read_back() -> None:
    message, data = parsed()
    assert message["From"] == "auth-backend <no-reply@example.com>"
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Reset your password"
    assert message["Message-ID"] == "<outbox.7.20261202093000000000@example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime == DATE
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content() == "Your code is: 042917\nline two"
    assert html.get_content() == "<p>Your code is: <b>042917</b></p>"
    # SMTP's line ends throughout, and no line over RFC 5322's 78 characters.
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def test_non_ascii_names_and_long_subjects_are_encoded() -> None:
    subject = "Réinitialisez le mot de passe de votre compte sur l'application très longue"
    message, data = parsed(mail_from="Ünïcode Äpp <no-reply@example.com>", subject=subject)
    assert message["Subject"] == subject
    assert message["From"].addresses[0].display_name == "Ünïcode Äpp"
    assert data.split(b"\r\n\r\n", 1)[0].isascii()


def test_an_ascii_envelope_needs_no_smtputf8_and_a_unicode_address_does() -> None:
    base = {
        "mail_from": "a <no-reply@example.com>",
        "subject": "s",
        "text": "t",
        "html": "h",
        "msg_id": "<1@example.com>",
    }
    assert not compose(recipient="ada@example.com", date=DATE, **base).smtputf8
    unicode = compose(recipient="adä@exämple.com", date=DATE, **base)
    assert unicode.smtputf8 and unicode.recipient == "adä@exämple.com"
    assert unicode.sender == "no-reply@example.com"


@pytest.mark.parametrize("field", ["recipient", "subject", "mail_from", "msg_id"])
@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r"])
def test_a_line_break_in_a_header_value_is_refused(field: str, line_break: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        parsed(**{field: f"x@example.com{line_break}Bcc: victim@example.com"})


def test_each_message_has_its_own_boundary() -> None:
    (_first, one), (_second, two) = parsed(), parsed()
    assert one.split(b"boundary=", 1)[1][:40] != two.split(b"boundary=", 1)[1][:40]
