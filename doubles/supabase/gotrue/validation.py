"""GoTrue's email, phone, password-hash and Go-duration checks (reference §3.1)."""

from __future__ import annotations

import datetime as dt
import json
import re

from ..errors import ApiError

# GoTrue's email format check (checkmail.ValidateFormat).
_EMAIL = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
# GoTrue's E.164 check, applied after formatPhoneNumber strips "+" and spaces.
_E164 = re.compile(r"^[1-9][0-9]{1,14}$")
_BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$")
_DURATION_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([^\d.]*)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def validate_email(email: str) -> str:
    """Reference §3.1: ≤255 chars, valid format, then lowercased."""
    if len(email) > 255:
        raise ApiError(400, "validation_failed", "An email address is too long")
    if not _EMAIL.match(email):
        raise ApiError(400, "validation_failed", "Unable to validate email address: invalid format")
    return email.lower()


def format_phone(phone: str) -> str:
    return phone.strip().removeprefix("+").replace(" ", "")


def validate_phone(phone: str) -> str:
    """Reference §3.1: "Normalised and checked as E.164"; stored without the "+"."""
    formatted = format_phone(phone)
    if not _E164.match(formatted):
        raise ApiError(400, "validation_failed", "Invalid phone number format (E.164 required)")
    return formatted


def is_supported_hash(password_hash: str) -> bool:
    """Reference §3.1: `password_hash` imports a bcrypt or argon2 hash."""
    return password_hash.startswith("$argon2") or bool(_BCRYPT_HASH.match(password_hash))


def parse_go_duration(text: str) -> dt.timedelta:
    """Go's time.ParseDuration, for `ban_duration` (reference §3.1), with Go's error texts."""
    quoted = json.dumps(text, ensure_ascii=False)
    rest, sign = text, 1.0
    if rest[:1] in ("+", "-"):
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return dt.timedelta(0)
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    seconds, pos = 0.0, 0
    while pos < len(rest):
        match = _DURATION_TERM.match(rest, pos)
        if match is None:
            raise ValueError(f"time: invalid duration {quoted}")
        number, unit = match.groups()
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _DURATION_UNITS:
            raise ValueError(f"time: unknown unit {json.dumps(unit)} in duration {quoted}")
        seconds += float(number) * _DURATION_UNITS[unit]
        pos = match.end()
    return dt.timedelta(seconds=sign * seconds)
