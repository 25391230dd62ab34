"""A PostgreSQL server of one test's own, to stop, restart or freeze at will.

The shared server in TEST_POSTGRES_URL serves every other test and must never go away, so an
outage is staged on a private cluster: `initdb` into a temporary directory (about 0.7 s),
`pg_ctl start` on a free loopback port, its socket in that directory. PostgreSQL refuses to
run as root, and the tests run as root in CI: then the server runs as the `postgres` OS user
(through `su`), which owns the directory. Skipped, or failed where REQUIRE_SERVICES=1, when
the server binaries are not installed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scripts.service_process import free_port
from tests.support.services import service_missing

# The OS user that runs the server when the tests run as root.
SERVER_USER = "postgres"


def _server_binaries() -> Path | None:
    """The directory of initdb and pg_ctl: the newest Debian-style install, else PATH."""
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if installed:
        return installed[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    children: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


@dataclass
class PrivatePostgres:
    """One private cluster: `url` reaches its `postgres` database as the `postgres` role."""

    directory: Path
    binaries: Path
    port: int

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        argv = [str(self.binaries / command[0]), *command[1:]]
        if os.geteuid() == 0:
            argv = ["su", SERVER_USER, "-c", shlex.join(argv)]
        subprocess.run(argv, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` disconnects every client, as a planned restart does;
        `immediate` is a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def _signal_all(self, signum: int) -> None:
        postmaster = self.postmaster_pid()
        for pid in [postmaster, *_children_of(postmaster)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """The server hangs, as a host under memory pressure or a stalled disk does: the
        kernel still accepts connections, nothing answers. Thawed on exit, whatever happens."""
        self._signal_all(signal.SIGSTOP)
        try:
            yield
        finally:
            self._signal_all(signal.SIGCONT)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private cluster, stopped and deleted afterwards."""
    binaries = _server_binaries()
    if binaries is None:
        service_missing("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    # Not under pytest's tmp_path: its parents are private to root, and the socket path must
    # stay short (about 100 bytes at most).
    directory = Path(tempfile.mkdtemp(prefix="pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError:
            shutil.rmtree(directory)
            service_missing(f"running as root needs the OS user {SERVER_USER!r} for PostgreSQL")
        os.chown(directory, user.pw_uid, user.pw_gid)
    server = PrivatePostgres(directory=directory, binaries=binaries, port=free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server._signal_all(signal.SIGCONT)
        with contextlib.suppress(Exception):
            server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)
