"""Start, stop and restart the SMTP server process, and read what it received."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import IO
from urllib.parse import quote

from .certificate import Certificate

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
USERNAME = "mailer"
# Characters that must be percent-encoded in a URL, so the service's decoding is exercised.
PASSWORD = "s3cret p@ss/w:rd"
STARTUP_TIMEOUT = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _parse(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


class SmtpServer:
    """One server process, on the same port(s) across stops and starts.

    `url` is what the service's SMTP_URL would be (STARTTLS required, AUTH with the server's
    credentials); `ca_file` its SMTP_CA_FILE. `implicit_tls=True` also listens for smtps://
    on `tls_port` (`smtps_url`)."""

    def __init__(
        self,
        certificate: Certificate,
        maildir: Path,
        *,
        username: str = USERNAME,
        password: str = PASSWORD,
        implicit_tls: bool = False,
    ) -> None:
        self._certificate = certificate
        self.maildir = maildir
        self.username = username
        self.password = password
        self._initial_password = password
        self._implicit_tls = implicit_tls
        self._ports: tuple[int, int | None] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # --- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._ports is not None, "start the server first"
        return self._ports[0]

    @property
    def tls_port(self) -> int:
        assert self._ports is not None and self._ports[1] is not None, "no implicit TLS port"
        return self._ports[1]

    def _userinfo(self, password: str | None) -> str:
        secret = self.password if password is None else password
        return f"{quote(self.username, safe='')}:{quote(secret, safe='')}"

    @property
    def url(self) -> str:
        return self.url_with(password=None)

    def url_with(self, *, password: str | None, starttls: str = "required") -> str:
        """SMTP_URL with another password (to be refused) or STARTTLS mode."""
        return f"smtp://{self._userinfo(password)}@{HOST}:{self.port}?starttls={starttls}"

    @property
    def smtps_url(self) -> str:
        return f"smtps://{self._userinfo(None)}@{HOST}:{self.tls_port}"

    @property
    def ca_file(self) -> str:
        return str(self._certificate.cert_file)

    # --- the process -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, password: str | None = None) -> None:
        """Start (again, on the same ports). `password`: the one AUTH accepts from now on."""
        if password is not None:
            self.password = password
        if self.running:
            return
        self.maildir.mkdir(parents=True, exist_ok=True)
        if self._ports is not None:
            self._launch(self._ports)
            return
        # Another process may take a free port before the child binds it: try new ones.
        for _attempt in range(3):
            ports = (_free_port(), _free_port() if self._implicit_tls else None)
            try:
                self._launch(ports)
            except RuntimeError as error:
                if "address already in use" not in str(error).lower():
                    raise
            else:
                self._ports = ports
                return
        raise RuntimeError("SMTP double: no free port after 3 attempts")

    def _launch(self, ports: tuple[int, int | None]) -> None:
        port, tls_port = ports
        command = [sys.executable, "-m", "doubles.smtp", "--host", HOST, "--port", str(port)]
        if tls_port is not None:
            command += ["--tls-port", str(tls_port)]
        command += ["--cert", str(self._certificate.cert_file)]
        command += ["--key", str(self._certificate.key_file)]
        command += ["--username", self.username, "--password", self.password]
        command += ["--maildir", str(self.maildir)]
        if self._log is not None:
            self._log.close()
        # Kept open while the process runs (its output, shown if it fails); closed by close().
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._process = process
        deadline = time.monotonic() + STARTUP_TIMEOUT
        listening = [p for p in (port, tls_port) if p is not None]
        while not all(_accepts(p) for p in listening):
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the SMTP double did not start:\n{self._output()}")
            time.sleep(0.02)

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        """Kill the process: from now on the port refuses connections."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait(timeout=10)

    def restart(self, *, password: str | None = None) -> None:
        """Stop, then start on the same port(s); `password` changes what AUTH accepts, e.g.
        to refuse the password the service was given."""
        self.stop()
        self.start(password=password)

    def reset(self) -> None:
        """As after start(): running, the first password, no messages (tests share one
        process and may have stopped it or changed its password)."""
        if not self.running or self.password != self._initial_password:
            self.restart(password=self._initial_password)
        self.clear()

    def close(self) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    # --- what it received --------------------------------------------------------------

    def message_files(self) -> list[Path]:
        if not self.maildir.exists():
            return []
        return sorted(self.maildir.glob("*.eml"))

    def messages(self) -> list[EmailMessage]:
        """Every message accepted so far, oldest first."""
        return [_parse(path) for path in self.message_files()]

    def messages_to(self, recipient: str) -> list[EmailMessage]:
        return [message for message in self.messages() if message["To"] == recipient]

    def clear(self) -> None:
        for path in self.message_files():
            path.unlink(missing_ok=True)

    async def wait_for(self, recipient: str, timeout: float = 10.0) -> EmailMessage:
        """The first message to `recipient`, polling until `timeout` (without blocking the
        event loop, where the code under test may be running)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages_to(recipient)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no message to {recipient} within {timeout} s")
            await asyncio.sleep(0.02)

    async def wait_for_count(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least `count` messages arrived; returns them all."""
        deadline = time.monotonic() + timeout
        while len(self.message_files()) < count:
            if time.monotonic() > deadline:
                received = len(self.message_files())
                raise TimeoutError(f"{received} of {count} messages within {timeout} s")
            await asyncio.sleep(0.05)
        return self.messages()

    def wait_for_blocking(self, recipient: str, timeout: float = 10.0) -> EmailMessage:
        """wait_for for code without an event loop."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages_to(recipient)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no message to {recipient} within {timeout} s")
            time.sleep(0.02)
