"""`python -m auth_backend` as a real process on loopback, for the contract fuzzer and the tests.

One place that knows how to start the service, wait until `/health` answers and stop it, so
that the fuzzer (scripts/fuzz_contract.py) and the test suite (tests/conftest.py) cannot drift
apart in how they run it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(
    env: Mapping[str, str], *, port: int, cwd: Path, log_path: Path, timeout: float = 30.0
) -> subprocess.Popen[bytes]:
    """Start the service with exactly `env` (plus HOST and PORT) and wait for `/health`.

    Raises RuntimeError with the server's log if it exits or stays unhealthy; the process is
    stopped first.
    """
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "auth_backend"],
            cwd=cwd,  # no developer .env is picked up unless cwd holds one
            env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited early:\n{_read(log_path)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    stop_process(process)
    raise RuntimeError(f"the service did not become healthy:\n{_read(log_path)}")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM (the service's graceful shutdown), then SIGKILL if it takes too long."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read(log_path: Path) -> str:
    return log_path.read_text(encoding="utf-8", errors="replace")
