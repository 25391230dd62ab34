"""Server processes for the benchmark: start, wait for a 200, measure, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.loadgen import taskset

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    startup_seconds: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def pids(self) -> list[int]:
        """The server and every process under it (uvicorn's workers)."""
        return [self.process.pid, *descendants(self.process.pid)]

    def rss_bytes(self) -> int:
        return sum(rss_of(pid) for pid in self.pids())

    def pin(self, cpus: str) -> None:
        """Move every thread of the server (and of its workers) onto `cpus`."""
        for pid in self.pids():
            subprocess.run(
                ["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True, check=True
            )

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds_of(pid) for pid in self.pids())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command may contain spaces and parentheses: fields follow the last ')'.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU time of a process, all its threads included."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command: state is field 3 of stat(5), utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pid_listening_on(port: int) -> int | None:
    """The process whose command line names `--port <port>` (the Supabase double)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--port" in argv and argv[argv.index(b"--port") + 1 : argv.index(b"--port") + 2] == [
            str(port).encode()
        ]:
            return int(entry.name)
    return None


def rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def start(
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str],
    workdir: Path,
    cpus: str | None = None,
    health_path: str = "/health",
    timeout: float = 60.0,
) -> Server:
    """Start `argv` with PORT/HOST set, and return once `health_path` answers 200."""
    port = free_port()
    full_env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port)}
    log_path = workdir / f"{name}.log"
    workdir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*taskset(cpus), *argv],
            cwd=workdir,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log_path)
    deadline = started + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited during start-up:\n{server.log()}")
            try:
                if client.get(f"{server.base_url}{health_path}").status_code < 500:
                    server.startup_seconds = time.perf_counter() - started
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    server.stop()
    raise RuntimeError(f"{name} did not answer within {timeout} s:\n{server.log()}")
