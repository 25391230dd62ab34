"""Structured logs: one JSON object per line (LOG_FORMAT=json) or readable lines (console).

Every record written while a request is served carries its request id, uvicorn's own records
included, and every text passes through `redact` first, so that tokens, passwords and keys
never reach the logs even when an exception message quotes them.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import time
from collections.abc import Iterable
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy.engine import make_url

from auth_backend.observability.request_id import current_request_id
from auth_backend.settings import LogFormat, Settings

REDACTED = "[redacted]"

# Secrets by shape: JWTs anywhere, bearer credentials, passwords in URLs, and values of
# password/token/key fields in "k=v", "k: v" and JSON/repr forms.
_SECRET_SHAPES = re.compile(
    r"(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)"
    r"|(?P<bearer>\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(?P<userinfo>\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+(?=@)"
    r"|(?P<field>\b(?:password|passwd|pwd|secret|client_secret|token|access_token|refresh_token"
    r"|id_token|api_?key|service_?key|authorization|cookie)\b[\"']?\s*[:=]\s*[\"']?"
    r"(?:bearer\s+)?)[^\s\"'&,;)}\]]+",
    re.IGNORECASE,
)

# Attributes every LogRecord has; anything else on a record was passed as `extra=`.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))
) | {"message", "asctime", "color_message", "request_id"}


def _mask(match: re.Match[str]) -> str:
    kept = match.group("bearer") or match.group("userinfo") or match.group("field") or ""
    return kept + REDACTED


# Text every shape above needs, lowercased: a JWT's "eyJ", "bearer", a URL's "://", or one
# of the field names. Under IGNORECASE, ASCII letters match only ASCII letters, so ASCII
# text whose lowercase holds none of these cannot match the patterns.
_SHAPE_MARKERS = re.compile(
    r"eyj|bearer|://|passw|pwd|secret|token|api_?key|service_?key|authorization|cookie"
)


def _may_hold_credential(text: str) -> bool:
    # Most log text (routes, methods, ids, audit fields) holds no marker, and these tests
    # cost far less than the patterns, which would otherwise run on every per-request line.
    if not text.isascii():
        return True  # Unicode case folding has surprises: let the patterns decide
    lowered = text.lower()
    if "=" not in text and ":" not in text:
        # Without either, only a JWT or a bearer credential can match.
        return "eyj" in lowered or "bearer" in lowered
    return _SHAPE_MARKERS.search(lowered) is not None


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without known secret values and without anything shaped like a credential."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _SECRET_SHAPES.sub(_mask, text) if _may_hold_credential(text) else text


# Characters that end or rewrite a line in a terminal, a file or a log shipper: C0 controls
# (CR, LF, ESC, ...), DEL, C1 controls (NEL among them) and the Unicode line and paragraph
# separators (Python's str.splitlines() splits on NEL and both). Request paths and headers
# reach the logs, so without this a client writes lines of its own choosing.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` with every control character written as an escape (`\\r`, `\\x1b`, `\\u2028`)."""
    # isprintable() is False for every character _CONTROL matches, and runs in C: the
    # substitution is skipped for ordinary text (routes, ids, most messages).
    return text if text.isprintable() else _CONTROL.sub(_escape_one, text)


# What JSON leaves raw inside strings but a line-oriented reader splits or rewrites on. Only
# strings of a JSON document can hold these, so the encoded line is escaped as a whole.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


def _json_escape_one(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _json_line(line: str) -> str:
    if line.isascii() and "\x7f" not in line:
        return line
    return _JSON_UNSAFE.sub(_json_escape_one, line)


def secrets_of(settings: Settings) -> list[str]:
    """The configured secret values, longest first, so that none hides inside another."""
    found = [
        secret.get_secret_value()
        for secret in (
            settings.supabase_service_key,
            settings.supabase_anon_key,
            settings.supabase_jwt_secret,
        )
        if secret is not None
    ]
    database_password = make_url(settings.database_url).password
    if database_password:
        found.append(str(database_password))
    # Very short values would blank out ordinary words; the shape rules still apply to them.
    return sorted((s for s in found if len(s) >= 6), key=len, reverse=True)


class _StructuredFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secrets)
        self._pid = os.getpid()
        self._second = -1
        self._second_text = ""

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _fields(self, record: logging.LogRecord) -> dict[str, Any]:
        return {
            key: self._redact(value) if isinstance(value, str) else value
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        }

    def _exception_text(self, record: logging.LogRecord) -> str | None:
        parts: list[str] = []
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        elif record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return self._redact("\n".join(parts)) if parts else None

    @staticmethod
    def _request_id(record: logging.LogRecord) -> str | None:
        # An explicit extra wins: error handlers run after the request's context is gone.
        explicit = getattr(record, "request_id", None)
        return str(explicit) if explicit else current_request_id.get()

    def _timestamp(self, record: logging.LogRecord) -> str:
        # Formatting the date once per second, not once per line, matters on the access path.
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int(record.msecs):03d}Z"


class JsonFormatter(_StructuredFormatter):
    """One JSON object per line: ts, level, logger, message, request_id, pid, extras."""

    def format(self, record: logging.LogRecord) -> str:
        if record.__dict__.get(_ACCESS_MARK):
            return self._format_access(record)
        return self.format_any(record)

    def _format_access(self, record: logging.LogRecord) -> str:
        # The per-request line, spelled out rather than built as a dict: it is written for
        # every request, /health included. It must equal format_any's output (a test checks).
        fields = record.__dict__
        client = fields["client"]
        return _json_line(
            f'{{"ts": "{self._timestamp(record)}", "level": "info", "logger": "{record.name}", '
            f'"message": {_encode(self._redact(record.msg))}, '
            f'"request_id": {_encode(fields["request_id"])}, "pid": {self._pid}, '
            f'"method": {_encode(fields["method"])}, "route": {_encode(fields["route"])}, '
            f'"path": {_encode(self._redact(fields["path"]))}, "status": {fields["status"]}, '
            f'"duration_ms": {fields["duration_ms"]!r}, '
            f'"client": {"null" if client is None else _encode(client)}}}'
        )

    def format_any(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        request_id = self._request_id(record)
        if request_id:
            entry["request_id"] = request_id
        entry["pid"] = self._pid
        entry.update(self._fields(record))
        exception = self._exception_text(record)
        if exception:
            entry["exception"] = exception
        return _json_line(json.dumps(entry, default=str, ensure_ascii=False))


def _encode(text: str) -> str:
    # The C string encoder behind json.dumps(text, ensure_ascii=False), without building an
    # encoder object per call.
    return str(encode_basestring(text))


ACCESS_LOGGER = logging.getLogger("auth_backend.access")
_ACCESS_MARK = "_access_line"
# Paths are the client's text: an unmatched path of megabytes would otherwise be written
# whole (and searched for credentials) on every request that sends one.
MAX_LOGGED_PATH = 256


def log_access(
    *,
    request_id: str,
    method: str,
    route: str,
    path: str,
    status: int,
    seconds: float,
    client: str | None,
) -> None:
    """Write the one access line of a request (logger `auth_backend.access`, level info)."""
    if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 2)
    if len(path) > MAX_LOGGED_PATH:
        path = f"{path[:MAX_LOGGED_PATH]}...[cut {len(path) - MAX_LOGGED_PATH} characters]"
    # makeRecord + handle is Logger.info without the stack walk that finds the caller's file
    # and line, which these lines do not print.
    record = ACCESS_LOGGER.makeRecord(
        ACCESS_LOGGER.name,
        logging.INFO,
        __file__,
        0,
        f"{method} {path} {status} {duration_ms:.1f}ms",
        (),
        None,
        extra={
            "request_id": request_id,
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "client": client,
            _ACCESS_MARK: True,
        },
    )
    ACCESS_LOGGER.handle(record)


# Access records spell these out in their message already.
_ACCESS_FIELDS = frozenset({"method", "route", "path", "status", "duration_ms"})


class ConsoleFormatter(_StructuredFormatter):
    """`2026-11-25T09:30:00.123Z INFO auth_backend.access: GET /me 200 1.2ms request_id=…`."""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{self._timestamp(record)} {record.levelname:<7} {escape_controls(record.name)}: "
            f"{escape_controls(self._redact(record.getMessage()))}"
        )
        hidden = _ACCESS_FIELDS if record.__dict__.get(_ACCESS_MARK) else frozenset()
        pairs = [
            f"{key}={_console_value(value)}"
            for key, value in self._fields(record).items()
            if key not in hidden
        ]
        request_id = self._request_id(record)
        if request_id:
            pairs.insert(0, f"request_id={_console_value(request_id)}")
        if pairs:
            line += "  " + " ".join(pairs)
        exception = self._exception_text(record)
        if exception:
            # A traceback keeps its lines, each indented and escaped: text it quotes (an
            # exception's message) cannot start a line that reads as a record of its own.
            line += "".join(
                f"\n{_CONTINUATION}{escape_controls(part)}" for part in exception.split("\n")
            )
        return line


# Prefix of a record's continuation lines (its traceback) in the console format.
_CONTINUATION = "  | "


def _console_value(value: object) -> str:
    text = str(value)
    # Quote anything that would make the line ambiguous (spaces, control characters).
    return text if text and text.isprintable() and " " not in text else json.dumps(text)


_FORMATTERS: dict[LogFormat, str] = {
    "json": f"{__name__}.JsonFormatter",
    "console": f"{__name__}.ConsoleFormatter",
}


def logging_config(settings: Settings) -> dict[str, Any]:
    """A dictConfig for this process and for every uvicorn worker (it is passed to each)."""
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": _FORMATTERS[settings.log_format],
                "secrets": secrets_of(settings),
            }
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"level": level, "handlers": ["stdout"]},
        "loggers": {
            # uvicorn's records go through our handler; its access log is replaced by ours.
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # One line per Alembic plugin at every start-up says nothing to an operator.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
