"""Reading what the service mailed: the code and the link's token of a recovery or
verification mail, as a user would take them from the plain-text part."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.message import EmailMessage

from doubles.smtp import SmtpServer

# A word of its own: six digits inside an address or a token are not the code.
CODE = re.compile(r"(?<!\S)(\d{6})(?!\S)")
LINK = re.compile(r"(https?://\S+?)#token=([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class MailedCode:
    code: str
    token: str
    link: str


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the mail has no plain-text part"
    content = part.get_content()
    assert isinstance(content, str)
    return content


async def nth_mailed_code(smtp: SmtpServer, recipient: str, count: int = 1) -> MailedCode:
    """The code and link of the `count`th mail `recipient` received, waiting up to 10 s."""
    for _ in range(100):
        messages = smtp.messages_to(recipient)
        if len(messages) >= count:
            return mailed_code(messages[count - 1])
        await asyncio.sleep(0.1)
    raise AssertionError(f"{recipient} received {len(smtp.messages_to(recipient))} mails")


def mailed_code(message: EmailMessage) -> MailedCode:
    text = text_of(message)
    code, link = CODE.search(text), LINK.search(text)
    assert code is not None, "no 6-digit code in the mail"
    assert link is not None, "no link with a token in the mail"
    return MailedCode(code=code.group(1), token=link.group(2), link=link.group(1))
