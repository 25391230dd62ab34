"""`python -m auth_backend` as operators run it: JSON logs, graceful shutdown, several workers."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.observability import metric_sample
from tests.support.services import LiveServer, start_server, stop_server

pytestmark = pytest.mark.slow


def json_lines(server: LiveServer) -> list[dict[str, Any]]:
    # Every line the process writes must be JSON; json.loads fails the test otherwise.
    return [json.loads(line) for line in server.log().splitlines() if line.strip()]


def wait_for_log(server: LiveServer, pattern: str, count: int = 1, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(re.findall(pattern, server.log())) < count:
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise AssertionError(f"never logged {pattern!r} x{count}:\n{server.log()}")
        time.sleep(0.1)


@pytest.fixture
def json_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'auth.db'}", "LOG_FORMAT": "json"},
        tmp_path / "server.log",
    )
    yield server
    stop_server(server)


def test_every_line_is_json_and_requests_get_one_access_line(json_server: LiveServer) -> None:
    httpx.get(f"{json_server.base_url}/health", headers={"X-Request-ID": "json-1"})
    httpx.post(f"{json_server.base_url}/login", json={"email": "nobody@example.com"})
    wait_for_log(json_server, r'"path": "/login"')
    lines = json_lines(json_server)
    loggers = {line["logger"] for line in lines}
    # uvicorn's own records come through our formatter; its access log is off.
    assert "uvicorn.error" in loggers
    assert "uvicorn.access" not in loggers
    [health] = [line for line in lines if line.get("request_id") == "json-1"]
    assert health["logger"] == "auth_backend.access"
    assert (health["method"], health["route"], health["status"]) == ("GET", "/health", 200)
    [login] = [line for line in lines if line.get("path") == "/login"]
    assert (login["status"], len(login["request_id"])) == (400, 32)
    # One worker by default: served in-process, with no worker children.
    pid = json_server.process.pid
    assert Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="utf-8").strip() == ""


def test_sigterm_lets_the_in_flight_request_finish(json_server: LiveServer) -> None:
    body = json.dumps({"email": "late@example.com", "password": "correct horse battery"}).encode()
    port = int(json_server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(
            b"POST /signup HTTP/1.1\r\nHost: auth-backend\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nX-Request-ID: in-flight-1\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        # The server asks for the body only once the app is reading it: the request is live.
        assert connection.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        json_server.process.send_signal(signal.SIGTERM)
        wait_for_log(json_server, "Waiting for connections to close")
        # Shutting down: no new connections, but ours is still being served.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        connection.sendall(body)
        response = _read_response(connection)
    assert response.startswith(b"HTTP/1.1 201 "), response
    assert b"connection: close" in response.lower()
    assert b'"email":"late@example.com"' in response
    json_server.process.wait(timeout=30)
    # uvicorn re-raises the SIGTERM it handled once it is done, hence either code.
    assert json_server.process.returncode in (0, -signal.SIGTERM)
    messages = [line["message"] for line in json_lines(json_server)]
    assert "auth-backend stopped: provider connections closed" in messages
    assert not any("timeout graceful shutdown exceeded" in message for message in messages)


def _read_response(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_two_workers_answer_and_metrics_add_up_across_them(tmp_path: Path) -> None:
    server = start_server(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'auth.db'}",
            "LOG_FORMAT": "json",
            "WEB_CONCURRENCY": "2",
        },
        tmp_path / "server.log",
        timeout=120,
    )
    try:
        wait_for_log(server, "Application startup complete", count=2, timeout=120)
        [announcement] = [
            line for line in json_lines(server) if line["message"].startswith("metrics of the 2")
        ]
        metrics_dir = Path(announcement["message"].rsplit(" ", 1)[1])
        assert metrics_dir.is_dir()

        def health_in(text: str) -> float:
            return metric_sample(
                text,
                "auth_backend_http_requests_total",
                method="GET",
                route="/health",
                status="200",
            )

        before = health_in(httpx.get(f"{server.base_url}/metrics").text)
        sent = 0
        pids: set[int] = set()
        for _batch in range(10):
            for _ in range(20):
                # A new connection each time, so that either worker may accept it.
                httpx.get(f"{server.base_url}/health", headers={"X-Request-ID": f"w-{sent}"})
                sent += 1
            time.sleep(0.2)
            pids = {
                line["pid"]
                for line in json_lines(server)
                if str(line.get("request_id", "")).startswith("w-")
            }
            if len(pids) == 2:
                break
        assert len(pids) == 2, "one worker answered every request"
        # Whichever worker answers the scrape, it reports the requests both served.
        for _ in range(4):
            after = health_in(httpx.get(f"{server.base_url}/metrics").text)
            assert after - before == sent
    finally:
        stop_server(server)
    assert server.process.returncode in (0, -signal.SIGTERM)
    assert not metrics_dir.exists()
