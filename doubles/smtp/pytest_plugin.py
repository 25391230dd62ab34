"""Pytest fixtures of the SMTP double, registered as a plugin by tests/conftest.py:

    pytest_plugins = ["doubles.smtp.pytest_plugin"]

`smtp_server`: the session's server process (STARTTLS and AUTH required), reset for each test:
running, its first password, no messages (a test may stop it, restart it or change its
password). `make_smtp_server(implicit_tls=True, certificate=...)` starts more, killed after
the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .certificate import Certificate, make_certificate
from .runner import SmtpServer

MakeSmtpServer = Callable[..., SmtpServer]


@pytest.fixture(scope="session")
def smtp_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("smtp-certificate"))


@pytest.fixture
def make_smtp_server(smtp_certificate: Certificate, tmp_path: Path) -> Iterator[MakeSmtpServer]:
    """Start servers (keyword arguments of SmtpServer, and `certificate` to serve another
    one); all are killed after the test."""
    servers: list[SmtpServer] = []

    def make(*, certificate: Certificate | None = None, **options: object) -> SmtpServer:
        maildir = tmp_path / f"smtp-received-{len(servers)}"
        server = SmtpServer(certificate or smtp_certificate, maildir, **options)  # type: ignore[arg-type]
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def smtp_server_process(
    smtp_certificate: Certificate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SmtpServer]:
    server = SmtpServer(smtp_certificate, tmp_path_factory.mktemp("smtp-received"))
    server.start()
    yield server
    server.close()


@pytest.fixture
def smtp_server(smtp_server_process: SmtpServer) -> SmtpServer:
    smtp_server_process.reset()
    return smtp_server_process
