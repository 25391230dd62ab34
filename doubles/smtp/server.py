"""The server process: aiosmtpd with STARTTLS and AUTH required on one port and, optionally,
implicit TLS (smtps) with AUTH required on another. Each accepted message becomes a file in
the mail folder (written to a temporary name, then renamed)."""

from __future__ import annotations

import asyncio
import itertools
import os
import ssl
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOSTNAME = "localhost"


class MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        self._maildir = maildir
        self._counter = itertools.count()

    # The name aiosmtpd calls.
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        name = f"{time.time_ns()}-{os.getpid()}-{next(self._counter)}.eml"
        temporary = self._maildir / f".{name}.tmp"
        temporary.write_bytes(content)
        temporary.replace(self._maildir / name)
        return "250 Message accepted for delivery"


class Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self._username = username.encode()
        self._password = password.encode()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        accepted = (
            isinstance(data, LoginPassword)
            and data.login == self._username
            and data.password == self._password
        )
        # handled=False: aiosmtpd answers a refusal itself (535), as real servers do.
        return AuthResult(success=accepted, handled=False)


async def serve(
    *,
    host: str,
    port: int,
    tls_port: int | None,
    cert_file: Path,
    key_file: Path,
    username: str,
    password: str,
    maildir: Path,
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    handler = MaildirHandler(maildir)
    authenticator = Authenticator(username, password)
    loop = asyncio.get_running_loop()

    def starttls_session() -> SMTP:
        return SMTP(
            handler,
            hostname=HOSTNAME,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=authenticator,
        )

    def implicit_tls_session() -> SMTP:
        # The whole connection is TLS already; aiosmtpd only knows of STARTTLS's, so its
        # own "AUTH needs TLS" check is off here (it would refuse every AUTH).
        return SMTP(
            handler,
            hostname=HOSTNAME,
            auth_required=True,
            auth_require_tls=False,
            authenticator=authenticator,
        )

    servers = [await loop.create_server(starttls_session, host, port)]
    if tls_port is not None:
        servers.append(await loop.create_server(implicit_tls_session, host, tls_port, ssl=context))
    await asyncio.gather(*(server.serve_forever() for server in servers))
