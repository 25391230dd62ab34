"""Where a composed message goes: an SMTP server (`SmtpTransport`), or .eml files in a folder
for development (`FileTransport`). `transport_for(settings)` picks one.

A transport raises only `MailDeliveryFailed`, whose reason is safe to store and log.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiosmtplib

from auth_backend.mail.errors import MailDeliveryFailed
from auth_backend.mail.smtp_url import SmtpEndpoint, parse_smtp_url

if TYPE_CHECKING:
    from auth_backend.settings import Settings

# Reply codes that mean "the server will not let us send" rather than "this mail is refused":
# 530 authentication required, 534 mechanism too weak, 535 credentials refused, 538
# encryption required. Credentials and configuration get fixed by operators, so these are
# retried like an outage instead of giving the mail up.
_AUTHENTICATION_CODES = frozenset({530, 534, 535, 538})
_REASON_LENGTH = 300


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Deliver `message` to its To address or raise MailDeliveryFailed."""

    async def aclose(self) -> None:
        """Release what the transport holds (connections, threads)."""


def _server_text(message: str) -> str:
    # Servers answer in one or several lines; the first says what happened.
    lines = message.strip().splitlines()
    return lines[0][:200] if lines else ""


class SmtpTransport:
    """One connection per message: a mail is rare enough that reusing connections buys
    nothing, and a fresh connection never inherits a half-broken session."""

    def __init__(
        self, endpoint: SmtpEndpoint, *, timeout: float, ca_file: str | None = None
    ) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        # Verification is always on: the certificate must chain to a trusted CA (the
        # system's, or those in `ca_file`) and name the host.
        self._tls = ssl.create_default_context(cafile=ca_file)

    @classmethod
    def from_url(cls, url: str, *, timeout: float, ca_file: str | None = None) -> SmtpTransport:
        return cls(parse_smtp_url(url), timeout=timeout, ca_file=ca_file)

    @property
    def endpoint(self) -> SmtpEndpoint:
        return self._endpoint

    def __repr__(self) -> str:
        endpoint = self._endpoint
        return f"SmtpTransport({endpoint.hostname}:{endpoint.port}, starttls={endpoint.starttls})"

    async def send(self, message: EmailMessage) -> None:
        endpoint = self._endpoint
        start_tls = {"required": True, "opportunistic": None, "none": False}[endpoint.starttls]
        try:
            # `timeout` bounds connecting and each command (aiosmtplib).
            await aiosmtplib.send(
                message,
                hostname=endpoint.hostname,
                port=endpoint.port,
                username=endpoint.username,
                password=endpoint.password,
                use_tls=endpoint.implicit_tls,
                start_tls=start_tls,
                validate_certs=True,
                tls_context=self._tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refused.code for refused in error.recipients]
            first = error.recipients[0] if error.recipients else None
            detail = f"{first.code} {_server_text(first.message)}" if first else ""
            raise MailDeliveryFailed(
                self._reason(error, detail), permanent=bool(codes) and min(codes) >= 500
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            permanent = (
                500 <= error.code < 600
                and error.code not in _AUTHENTICATION_CODES
                # The server refusing our From is the same for every mail: configuration.
                and not isinstance(error, aiosmtplib.SMTPSenderRefused)
            )
            detail = f"{error.code} {_server_text(error.message)}"
            raise MailDeliveryFailed(self._reason(error, detail), permanent=permanent) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # Refused or dropped connections, timeouts, TLS failures (ssl.SSLError is an
            # OSError), a server without STARTTLS or AUTH: all may heal or be fixed.
            raise MailDeliveryFailed(self._reason(error, _server_text(str(error)))) from None

    def _reason(self, error: BaseException, detail: str) -> str:
        reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        # A server may quote what it was given; the password must not travel on from here.
        password = self._endpoint.password
        if password:
            reason = reason.replace(password, "[redacted]")
        return reason[:_REASON_LENGTH]

    async def aclose(self) -> None:
        return None


class FileTransport:
    """Each message as `<UTC time>-<random>.eml` in `directory`, for development: open it
    with any mail reader. Written to a temporary name and renamed, so a reader of the folder
    never sees half a file."""

    def __init__(self, directory: str | Path) -> None:
        self._directory = Path(directory)

    @property
    def directory(self) -> Path:
        return self._directory

    async def send(self, message: EmailMessage) -> None:
        try:
            # File system calls can stall (network folders); keep them off the event loop.
            await asyncio.to_thread(self._write, message.as_bytes())
        except OSError as error:
            raise MailDeliveryFailed(f"{type(error).__name__}: {error.strerror or ''}") from None

    def _write(self, content: bytes) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:12]}.eml"
        descriptor, temporary = tempfile.mkstemp(dir=self._directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
            Path(temporary).replace(self._directory / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def aclose(self) -> None:
        return None


def transport_for(settings: Settings) -> Transport:
    """SMTP when SMTP_URL is set, else .eml files in MAIL_DIR."""
    if settings.smtp_url is not None:
        return SmtpTransport.from_url(
            settings.smtp_url.get_secret_value(),
            timeout=settings.smtp_timeout,
            ca_file=settings.smtp_ca_file,
        )
    return FileTransport(settings.mail_dir)
