"""SMTP_URL: where mail is sent and how the connection is secured.

    smtp://user:pass@host:587?starttls=required    (the default for smtp://)
    smtp://user:pass@host:587?starttls=opportunistic
    smtp://host:25?starttls=none                   (a relay on a trusted network)
    smtps://user:pass@host:465                     (TLS from the first byte)

User and password are percent-decoded. Nothing here imports the rest of the service, so that
settings.py can check the URL's shape at start-up with the same parser the transport uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import parse_qs, unquote, urlsplit

StartTls = Literal["required", "opportunistic", "none"]
_STARTTLS_VALUES: tuple[str, ...] = get_args(StartTls)
_DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpEndpoint:
    hostname: str
    port: int
    implicit_tls: bool
    starttls: StartTls
    username: str | None = None
    # Kept out of repr: an endpoint in a traceback or a debug print shows no password.
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpEndpoint:
    """Raises ValueError with a message that never repeats the URL (it may hold a password)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL (expected smtp://user:pass@host:587)") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("the scheme must be smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("the URL names no host")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("the URL takes no path (expected smtp://user:pass@host:587)")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))} (only starttls)")
    values = query.get("starttls", [])
    if len(values) > 1:
        raise ValueError("starttls is given more than once")
    if scheme == "smtps":
        if values and values[0] != "none":
            raise ValueError("smtps:// is TLS from the start: it takes no starttls parameter")
        starttls: StartTls = "none"
    else:
        value = values[0].lower() if values else "required"
        if value not in _STARTTLS_VALUES:
            raise ValueError("starttls must be required, opportunistic or none")
        starttls = value  # type: ignore[assignment]  # checked against the Literal just above
    return SmtpEndpoint(
        hostname=parts.hostname,
        port=port or _DEFAULT_PORTS[scheme],
        implicit_tls=scheme == "smtps",
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
