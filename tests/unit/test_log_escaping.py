"""Log injection: control characters a client sends (in a path, a header) or that an error
quotes are escaped in both log formats, so that one record is one line and no client writes
a line of its own; long paths are cut in the access log (observability/logging.py)."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest

from auth_backend.observability.logging import (
    MAX_LOGGED_PATH,
    ConsoleFormatter,
    JsonFormatter,
    escape_controls,
)
from tests.support.observability import CapturedOutput, captured_output
from tests.support.services import make_settings, running_app

# A line as the console format writes it, claiming a login that never happened.
FORGED = (
    "2026-01-01T00:00:00.000Z INFO    auth_backend.audit: event=login_succeeded "
    "email=admin@example.com"
)
# Every kind of line break or terminal control a reader may act on.
BREAKS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1b[2K\r", "\x7f", "\x85", "\u2028"]
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
CONSOLE_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) ")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(database_url="sqlite:///:memory:")) as (_app, client):
        yield client


def attack_path(line_break: str) -> str:
    return "/login" + quote(line_break + FORGED, safe="")


def access_records(captured: CapturedOutput) -> list[logging.LogRecord]:
    return [record for record in captured.records if record.name == "auth_backend.access"]


def assert_one_console_line_per_record(captured: CapturedOutput) -> None:
    lines = captured.text().splitlines()
    assert len(lines) == len(captured.records), lines
    for line in lines:
        assert CONSOLE_LINE.match(line), line
        assert not line.startswith(FORGED[:24]), line


@pytest.mark.parametrize("line_break", BREAKS)
async def test_a_path_cannot_forge_a_console_line(
    client: httpx.AsyncClient, line_break: str
) -> None:
    with captured_output(ConsoleFormatter()) as captured:
        response = await client.get(attack_path(line_break))
    assert response.status_code == 404
    [access] = access_records(captured)
    assert access.__dict__["path"] == "/login" + line_break + FORGED
    assert_one_console_line_per_record(captured)
    [line] = [line for line in captured.text().splitlines() if "auth_backend.access" in line]
    assert escape_controls(line_break) in line
    assert line.isprintable(), line


@pytest.mark.parametrize("line_break", BREAKS)
async def test_a_path_keeps_json_lines_whole_and_exact(
    client: httpx.AsyncClient, line_break: str
) -> None:
    with captured_output(JsonFormatter()) as captured:
        await client.get(attack_path(line_break))
    lines = captured.text().splitlines()
    assert len(lines) == len(captured.records)
    assert not any(CONTROL.search(line) for line in lines)
    entries = [json.loads(line) for line in lines]
    [access] = [entry for entry in entries if entry["logger"] == "auth_backend.access"]
    # Escaped on the line, exact once decoded.
    assert access["path"] == "/login" + line_break + FORGED
    assert line_break + FORGED in access["message"]


def _fail(message: str) -> None:
    raise ValueError(message)


def _record_with_everything(line_break: str) -> logging.LogRecord:
    try:
        _fail(f"bad input{line_break}{FORGED}")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.getLogger("auth_backend.test").makeRecord(
        "auth_backend.test",
        logging.ERROR,
        __file__,
        1,
        "login failed for %s",
        (f"someone{line_break}{FORGED}",),
        exc_info,
        extra={"user_agent": f"curl{line_break}{FORGED}", "request_id": f"r{line_break}{FORGED}"},
    )


@pytest.mark.parametrize("line_break", BREAKS)
def test_messages_extras_and_exceptions_cannot_forge_a_console_line(line_break: str) -> None:
    text = ConsoleFormatter().format(_record_with_everything(line_break))
    first, *continuation = text.splitlines()
    assert CONSOLE_LINE.match(first)
    # The traceback keeps its lines, each marked as the record's continuation.
    assert continuation and all(line.startswith("  | ") for line in continuation), continuation
    assert not any(line.startswith(FORGED[:24]) for line in text.splitlines())
    assert FORGED in first  # still there to read, on the record's own line


@pytest.mark.parametrize("line_break", BREAKS)
def test_messages_extras_and_exceptions_keep_a_json_line_whole(line_break: str) -> None:
    [line] = JsonFormatter().format(_record_with_everything(line_break)).splitlines()
    assert not CONTROL.search(line)
    entry = json.loads(line)
    assert entry["message"] == f"login failed for someone{line_break}{FORGED}"
    assert entry["user_agent"] == f"curl{line_break}{FORGED}"
    assert entry["request_id"] == f"r{line_break}{FORGED}"
    assert f"bad input{line_break}{FORGED}" in entry["exception"]


async def test_a_ten_kilobyte_path_is_cut_in_the_access_log(client: httpx.AsyncClient) -> None:
    path = "/" + "a" * 10_000
    with captured_output(JsonFormatter()) as captured:
        assert (await client.get(path)).status_code == 404
    [access] = [
        json.loads(line) for line in captured.text().splitlines() if '"auth_backend.access"' in line
    ]
    assert access["path"].startswith(path[:MAX_LOGGED_PATH])
    assert access["path"].endswith(f"...[cut {len(path) - MAX_LOGGED_PATH} characters]")
    assert len(access["path"]) < MAX_LOGGED_PATH + 40
    assert len(access["message"]) < MAX_LOGGED_PATH + 80


async def test_a_short_path_is_logged_whole(client: httpx.AsyncClient) -> None:
    path = "/" + "a" * (MAX_LOGGED_PATH - 1)
    with captured_output(JsonFormatter()) as captured:
        await client.get(path)
    [access] = access_records(captured)
    assert access.__dict__["path"] == path
