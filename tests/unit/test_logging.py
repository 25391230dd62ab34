"""Structured logs: formats, request ids, redaction, and the config every worker receives."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import pickle
import random
import sys
from collections.abc import Iterator
from typing import Any, cast

import pytest
from pydantic import SecretStr

from auth_backend.observability.logging import (
    _SECRET_SHAPES,
    REDACTED,
    ConsoleFormatter,
    JsonFormatter,
    _may_hold_credential,
    log_access,
    logging_config,
    redact,
    secrets_of,
)
from auth_backend.observability.request_id import current_request_id
from tests.support.services import make_settings

JWT = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImFiYyJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token in a sentence {JWT} here", JWT),
        ("Authorization: Bearer opaque-token-value", "opaque-token-value"),
        ("headers=[(b'authorization', b'Bearer opaque.value-1')]", "opaque.value-1"),
        ("postgresql://auth:hunter22@db:5432/auth", "hunter22"),
        ('{"email": "a@example.com", "password": "correct horse"}', "correct"),
        ("{'refresh_token': 'v2xq3b6t7k4m9pq1'}", "v2xq3b6t7k4m9pq1"),
        ("grant_type=password&password=s3cret-pw&username=a", "s3cret-pw"),
        ("apikey=sb_secret_abcdef123456", "sb_secret_abcdef123456"),
        ("client_secret: xyz-789-secret", "xyz-789-secret"),
    ],
)
def test_credentials_are_redacted_by_shape(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "AUTHORIZATION: BEARER opaque-token-value",
        "Cookie=session-abcdef",
        "EYJhbGciOi.EYJzdWIiOi.c2ln",
        "API_KEY: sb_secret_abcdef123456",
        "ServiceKey=abcdef123456",
        "PASSWD=hunter22",
        "Pwd: hunter22",
        "HTTPS://user:hunter22@db",
    ],
)
def test_credentials_are_redacted_in_any_case(text: str) -> None:
    assert REDACTED in redact(text)


def test_the_cheap_pre_check_never_skips_text_the_patterns_would_change() -> None:
    # Random texts built from the patterns' own pieces, in random case, Unicode look-alikes
    # included: whenever the regex finds something, the pre-check must have let it run.
    pieces = [
        "password",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "apikey",
        "api_key",
        "servicekey",
        "service_key",
        "authorization",
        "cookie",
        "eyJ",
        "bearer ",
        "http://u:",
        "@",
        "=",
        ": ",
        " ",
        ".",
        "'",
        '"',
        "abc",
        "Xy9-_",
        "\u017f",
        "\u212a",
        "\u0130",
        "é",
    ]
    generator = random.Random(7)
    matched = 0
    for _ in range(20_000):
        parts = generator.choices(pieces, k=generator.randint(1, 7))
        text = "".join(
            "".join(c.upper() if generator.random() < 0.3 else c for c in part) for part in parts
        )
        if _SECRET_SHAPES.search(text):
            matched += 1
            assert _may_hold_credential(text), text
    assert matched > 1000  # the generator does produce credential shapes


def test_ordinary_text_is_left_alone() -> None:
    text = 'GET /login 401 46.1ms token_type=bearer route="/me" passwords must be long'
    assert redact(text) == text


def test_configured_secret_values_are_redacted_wherever_they_appear() -> None:
    settings = make_settings(
        auth_provider="local",
        database_url="postgresql://auth:db-pass-123@db/auth",
        supabase_service_key=SecretStr("service-key-value-xyz"),
    )
    secrets = secrets_of(settings)
    assert secrets == ["service-key-value-xyz", "db-pass-123"]
    assert redact("upstream said service-key-value-xyz was rejected", secrets) == (
        f"upstream said {REDACTED} was rejected"
    )


def record(message: str, *args: Any, **extra: Any) -> logging.LogRecord:
    entry = logging.LogRecord(
        "auth_backend.test", logging.WARNING, __file__, 1, message, args, None
    )
    entry.__dict__.update(extra)
    return entry


@pytest.fixture
def request_id() -> Iterator[str]:
    token = current_request_id.set("req-123")
    yield "req-123"
    current_request_id.reset(token)


def test_json_lines_carry_the_request_id_and_extras(request_id: str) -> None:
    line = JsonFormatter().format(record("user %s signed in", "ada", route="/login", status=200))
    entry = json.loads(line)
    assert entry["message"] == "user ada signed in"
    assert entry["level"] == "warning"
    assert entry["logger"] == "auth_backend.test"
    assert entry["request_id"] == request_id
    assert entry["route"] == "/login"
    assert entry["status"] == 200
    assert isinstance(entry["pid"], int)
    assert entry["ts"].endswith("Z")
    assert "\n" not in line


def test_an_explicit_request_id_wins_over_the_context(request_id: str) -> None:
    entry = json.loads(JsonFormatter().format(record("boom", request_id="explicit-9")))
    assert entry["request_id"] == "explicit-9"


def test_lines_outside_a_request_have_no_request_id() -> None:
    assert "request_id" not in json.loads(JsonFormatter().format(record("started")))


def fail_upstream() -> None:
    raise RuntimeError(f"upstream rejected Bearer {JWT}")


def test_exceptions_are_one_json_field_and_redacted() -> None:
    try:
        fail_upstream()
    except RuntimeError:
        entry = record("call failed")
        entry.exc_info = sys.exc_info()
    parsed = json.loads(JsonFormatter().format(entry))
    assert "RuntimeError" in parsed["exception"]
    assert JWT not in parsed["exception"]


def test_extras_are_redacted_too() -> None:
    parsed = json.loads(JsonFormatter().format(record("x", header=f"Bearer {JWT}")))
    assert JWT not in json.dumps(parsed)


def test_console_lines_are_readable(request_id: str) -> None:
    line = ConsoleFormatter().format(record("upstream %s", "slow", status=503, attempt=2))
    assert " WARNING auth_backend.test: upstream slow" in line
    assert line.endswith(f"request_id={request_id} status=503 attempt=2")


def test_console_access_lines_do_not_repeat_their_message(request_id: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ConsoleFormatter())
    access = logging.getLogger("auth_backend.access")
    saved = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        log_access(
            request_id=request_id,
            method="GET",
            route="/me",
            path="/me",
            status=200,
            seconds=0.0012,
            client="10.0.0.1",
        )
    finally:
        access.removeHandler(handler)
        access.setLevel(saved)
    line = stream.getvalue().strip()
    assert " INFO    auth_backend.access: GET /me 200 1.2ms" in line
    assert line.endswith(f"request_id={request_id} client=10.0.0.1")


def test_console_quotes_values_with_spaces_or_control_characters() -> None:
    line = ConsoleFormatter().format(record("x", user_agent="curl 8\n"))
    assert 'user_agent="curl 8\\n"' in line


@pytest.mark.parametrize(
    ("log_format", "formatter"), [("json", JsonFormatter), ("console", ConsoleFormatter)]
)
def test_the_config_routes_uvicorn_through_our_formatter(
    log_format: str, formatter: type[logging.Formatter]
) -> None:
    config = logging_config(make_settings(log_format=log_format, log_level="WARNING"))
    # uvicorn pickles the config into every worker process.
    assert pickle.loads(pickle.dumps(config)) == config
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic.runtime.plugins"]
    saved = {name: _state(logging.getLogger(name)) for name in names}
    try:
        logging.config.dictConfig(config)
        root = logging.getLogger()
        handler = root.handlers[-1]
        assert isinstance(handler.formatter, formatter)
        assert root.level == logging.WARNING
        assert logging.getLogger("uvicorn.error").propagate
        assert not logging.getLogger("uvicorn.error").handlers
        # Our middleware writes the access lines; uvicorn's own are dropped.
        assert not logging.getLogger("uvicorn.access").propagate
        stream = io.StringIO()
        cast("logging.StreamHandler[io.StringIO]", handler).setStream(stream)
        logging.getLogger("uvicorn.error").warning("from uvicorn")
        assert "from uvicorn" in stream.getvalue()
    finally:
        for name, state in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:], logger.level, logger.propagate, logger.disabled = state


def _state(logger: logging.Logger) -> tuple[list[logging.Handler], int, bool, bool]:
    return logger.handlers[:], logger.level, logger.propagate, logger.disabled


class RecordingHandler(logging.StreamHandler[io.StringIO]):
    def __init__(self, stream: io.StringIO) -> None:
        super().__init__(stream)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        super().emit(record)


@pytest.mark.parametrize("client", ["203.0.113.7", None])
def test_the_fast_access_line_is_the_generic_line(client: str | None) -> None:
    # Access lines take a hand-written path for speed; it must say exactly what the
    # generic formatter says about the same record.
    stream = io.StringIO()
    handler = RecordingHandler(stream)
    formatter = JsonFormatter(secrets=["s3cret-value"])
    handler.setFormatter(formatter)
    access = logging.getLogger("auth_backend.access")
    saved = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        log_access(
            request_id="req-9",
            method="GET",
            route="<unmatched>",
            path=f'/odd "path"/\u00e9/Bearer {JWT}/s3cret-value',
            status=404,
            seconds=0.0123456,
            client=client,
        )
    finally:
        access.removeHandler(handler)
        access.setLevel(saved)
    [line] = stream.getvalue().splitlines()
    fast = json.loads(line)
    [record] = handler.records
    assert fast == json.loads(formatter.format_any(record))
    assert JWT not in line and "s3cret-value" not in line
    assert fast["duration_ms"] == 12.35
    assert fast["client"] == client
