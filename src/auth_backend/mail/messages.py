"""What a mail is before it is stored (`OutgoingMail`) and the message built from an outbox
row at send time (`compose`, an `Envelope`)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from typing import Literal, get_args

MailKind = Literal["recovery", "verification"]
MAIL_KINDS: tuple[MailKind, ...] = get_args(MailKind)
# RFC 5322 asks for lines of at most 78 characters; a longer subject is folded.
_UNFOLDED_HEADER_LENGTH = 60


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One rendered mail, as the outbox stores it."""

    kind: MailKind
    recipient: str
    subject: str
    text: str
    html: str


def message_id(row_id: int, created_at: datetime, mail_from: str) -> str:
    """The same Message-ID on every attempt at one row: should a send be repeated (a worker
    that lost its lease after the server had accepted the mail), receiving systems can tell
    the copies apart from new mail. The creation time keeps ids apart across databases."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    return f"<outbox.{row_id}.{created_at:%Y%m%d%H%M%S%f}@{domain}>"


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message ready for a transport: the envelope's sender and recipient, and the message
    itself as RFC 5322 bytes with CRLF line ends. `smtputf8` when an address is not ASCII
    (RFC 6531: the server must offer SMTPUTF8)."""

    sender: str
    recipient: str
    data: bytes
    smtputf8: bool = False


def compose(
    *,
    mail_from: str,
    recipient: str,
    subject: str,
    text: str,
    html: str,
    msg_id: str,
    date: datetime,
) -> Envelope:
    """A multipart/alternative message (plain text first, HTML preferred by readers that can).

    Written out directly rather than through `email.message.EmailMessage`: its header
    registry and generator cost about 3.7 ms of CPU per mail, the largest part of sending one,
    taken from the requests the same process serves (ADR 0018; bench/RESULTS.md). The parts
    are simple and fixed: ASCII or RFC 2047 headers, UTF-8 bodies in base64. Header values
    with line breaks are refused (ValueError), so a stored recipient or subject can never
    inject headers; `tests/unit/test_mail_messages.py` holds the output to the email
    package's parser."""
    for value in (mail_from, recipient, subject, msg_id):
        if "\r" in value or "\n" in value:
            raise ValueError("a header value must not contain a line break")
    name, sender = parseaddr(mail_from)
    if not sender:
        raise ValueError("MAIL_FROM has no address")
    boundary = f"=_{secrets.token_hex(16)}"
    headers = [
        f"From: {formataddr((name, sender), charset='utf-8')}",
        f"To: {recipient}",
        f"Subject: {_header_text(subject)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {msg_id}",
        # RFC 3834: auto-responders (out-of-office) should not answer a machine's mail.
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        # Folded: with the boundary the line would pass RFC 5322's 78 characters.
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
    ]
    head = "\r\n".join(headers).encode("utf-8")
    body = b"".join(
        (
            _part(boundary, "text/plain", text),
            _part(boundary, "text/html", html),
            f"--{boundary}--\r\n".encode("ascii"),
        )
    )
    return Envelope(
        sender=sender,
        recipient=recipient,
        data=head + b"\r\n\r\n" + body,
        smtputf8=not (sender.isascii() and recipient.isascii()),
    )


def _header_text(value: str) -> str:
    if value.isascii() and len(value) <= _UNFOLDED_HEADER_LENGTH:
        return value
    # RFC 2047 encoded words, folded: non-ASCII or long subjects.
    return Header(value, "utf-8").encode(maxlinelen=76, linesep="\r\n")


def _part(boundary: str, content_type: str, content: str) -> bytes:
    encoded = base64.encodebytes(content.encode("utf-8")).replace(b"\n", b"\r\n")
    return (
        f"--{boundary}\r\n"
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + encoded
