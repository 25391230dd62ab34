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
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiosmtplib

from auth_backend.mail.errors import MailDeliveryFailed
from auth_backend.mail.messages import Envelope
from auth_backend.mail.smtp_url import SmtpEndpoint, parse_smtp_url

if TYPE_CHECKING:
    from auth_backend.settings import Settings

# Reply codes that mean "the server will not let us send" rather than "this mail is refused":
# 530 authentication required, 534 mechanism too weak, 535 credentials refused, 538
# encryption required. Credentials and configuration get fixed by operators, so these are
# retried like an outage instead of giving the mail up.
_AUTHENTICATION_CODES = frozenset({530, 534, 535, 538})
_REASON_LENGTH = 300
_DISCONNECTED = (aiosmtplib.SMTPServerDisconnected, ConnectionError)


class Transport(Protocol):
    async def send(self, message: Envelope) -> None:
        """Deliver `message` to its recipient or raise MailDeliveryFailed."""

    async def aclose(self) -> None:
        """Release what the transport holds (connections, threads)."""


def _server_text(message: str) -> str:
    # Servers answer in one or several lines; the first says what happened.
    lines = message.strip().splitlines()
    return lines[0][:200] if lines else ""


class SmtpTransport:
    """One SMTP connection, kept open between mails and used by one send at a time.

    Opening a connection (TCP, EHLO, STARTTLS's handshake, AUTH) costs more CPU than sending
    a mail over it, and that CPU is taken from the requests the same process serves, so a
    backlog is sent over one connection. It is opened when a mail is due and closed after
    IDLE_SECONDS without one (servers drop idle clients), after any failure (a fresh
    connection never inherits a half-broken session), and by `aclose`."""

    IDLE_SECONDS = 30.0

    def __init__(
        self, endpoint: SmtpEndpoint, *, timeout: float, ca_file: str | None = None
    ) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        # Verification is always on: the certificate must chain to a trusted CA (the
        # system's, or those in `ca_file`) and name the host.
        self._tls = ssl.create_default_context(cafile=ca_file)
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self._turn = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, *, timeout: float, ca_file: str | None = None) -> SmtpTransport:
        return cls(parse_smtp_url(url), timeout=timeout, ca_file=ca_file)

    @property
    def endpoint(self) -> SmtpEndpoint:
        return self._endpoint

    def __repr__(self) -> str:
        endpoint = self._endpoint
        return f"SmtpTransport({endpoint.hostname}:{endpoint.port}, starttls={endpoint.starttls})"

    async def send(self, message: Envelope) -> None:
        async with self._turn:
            reused = self._client is not None
            try:
                try:
                    await self._send_once(message)
                except _DISCONNECTED:
                    if not reused:
                        raise
                    # The server closed the kept connection while it was idle (a restart,
                    # its own idle timeout): that says nothing about this mail, so it is
                    # tried once more on a new connection.
                    await self._send_once(message)
            except _DISCONNECTED as error:
                raise self._failure(error) from None
            self._last_used = asyncio.get_running_loop().time()

    async def _send_once(self, message: Envelope) -> None:
        try:
            client = await self._connected()
            await client.sendmail(
                message.sender,
                [message.recipient],
                message.data,
                mail_options=["SMTPUTF8"] if message.smtputf8 else None,
            )
        except BaseException as error:
            # Whatever went wrong, the session's state is unknown: the next mail starts on a
            # new connection.
            await self._drop()
            if isinstance(error, _DISCONNECTED):
                raise
            if isinstance(error, Exception):
                raise self._failure(error) from None
            raise

    async def _connected(self) -> aiosmtplib.SMTP:
        now = asyncio.get_running_loop().time()
        if self._client is not None and now - self._last_used > self.IDLE_SECONDS:
            await self._drop()
        if self._client is None:
            endpoint = self._endpoint
            start_tls = {"required": True, "opportunistic": None, "none": False}[endpoint.starttls]
            # `timeout` bounds connecting and each command (aiosmtplib); connecting also
            # does STARTTLS and AUTH.
            client = aiosmtplib.SMTP(
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
            await client.connect()
            self._client = client
        return self._client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await asyncio.wait_for(client.quit(), timeout=min(self._timeout, 2.0))
        except Exception:  # the connection is being given up anyway
            client.close()

    def _failure(self, error: Exception) -> MailDeliveryFailed:
        if isinstance(error, MailDeliveryFailed):
            return error
        if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
            codes = [refused.code for refused in error.recipients]
            first = error.recipients[0] if error.recipients else None
            detail = f"{first.code} {_server_text(first.message)}" if first else ""
            return MailDeliveryFailed(
                self._reason(error, detail), permanent=bool(codes) and min(codes) >= 500
            )
        if isinstance(error, aiosmtplib.SMTPResponseException):
            permanent = (
                500 <= error.code < 600
                and error.code not in _AUTHENTICATION_CODES
                # The server refusing our From is the same for every mail: configuration.
                and not isinstance(error, aiosmtplib.SMTPSenderRefused)
            )
            detail = f"{error.code} {_server_text(error.message)}"
            return MailDeliveryFailed(self._reason(error, detail), permanent=permanent)
        # Refused or dropped connections, timeouts, TLS failures (ssl.SSLError is an OSError),
        # a server without STARTTLS or AUTH: all may heal or be fixed. Anything else from the
        # client is retried too, named by its class only.
        if isinstance(error, aiosmtplib.SMTPException | OSError | TimeoutError):
            return MailDeliveryFailed(self._reason(error, _server_text(str(error))))
        return MailDeliveryFailed(self._reason(error, ""))

    def _reason(self, error: BaseException, detail: str) -> str:
        reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        # A server may quote what it was given; the password must not travel on from here.
        password = self._endpoint.password
        if password:
            reason = reason.replace(password, "[redacted]")
        return reason[:_REASON_LENGTH]

    async def aclose(self) -> None:
        async with self._turn:
            await self._drop()


class FileTransport:
    """Each message as `<UTC time>-<random>.eml` in `directory`, for development: open it
    with any mail reader. Written to a temporary name and renamed, so a reader of the folder
    never sees half a file."""

    def __init__(self, directory: str | Path) -> None:
        self._directory = Path(directory)

    @property
    def directory(self) -> Path:
        return self._directory

    async def send(self, message: Envelope) -> None:
        try:
            # File system calls can stall (network folders); keep them off the event loop.
            await asyncio.to_thread(self._write, message.data)
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
