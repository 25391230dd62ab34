"""What a mail is before it is stored (`OutgoingMail`) and the MIME message built from an
outbox row at send time (`compose`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal, get_args

MailKind = Literal["recovery", "verification"]
MAIL_KINDS: tuple[MailKind, ...] = get_args(MailKind)


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


def compose(
    *,
    mail_from: str,
    recipient: str,
    subject: str,
    text: str,
    html: str,
    msg_id: str,
    date: datetime,
) -> EmailMessage:
    """A multipart/alternative message (plain text first, HTML preferred by readers that can).

    The default policy refuses header values with line breaks (ValueError), so a stored
    recipient or subject can never inject headers."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = msg_id
    # RFC 3834: auto-responders (out-of-office) should not answer a machine's mail.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
