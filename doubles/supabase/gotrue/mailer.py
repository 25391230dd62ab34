"""One-time tokens, redirect URLs and action links (reference part 2 §1, §2)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from urllib.parse import quote_plus, urljoin, urlsplit

from starlette.requests import Request

from ..config import Settings

# Reference part 2 §2.3: GOTRUE_MAILER_OTP_LENGTH default.
OTP_LENGTH = 6
# Reference part 2 §1: the mailer URL paths default to `/verify`, resolved against
# API_EXTERNAL_URL; "self-hosted configs set these to `/auth/v1/verify`", which is what the
# double uses so that its links point at its own /verify.
VERIFY_URL_PATH = "/auth/v1/verify"


def generate_otp(length: int = OTP_LENGTH) -> str:
    """crypto.GenerateOtp: `length` random decimal digits (leading zeros kept)."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def token_hash(address: str, otp: str) -> str:
    """Reference part 2 §1: `hex(sha224(email + email_otp))` (crypto.GenerateTokenHash)."""
    return hashlib.sha224((address + otp).encode()).hexdigest()


def is_otp_expired(sent_at: dt.datetime | None, now: dt.datetime, otp_exp: int) -> bool:
    """Reference part 2 §2.3: expired when now > <slot>_sent_at + GOTRUE_MAILER_OTP_EXP."""
    return sent_at is None or now > sent_at + dt.timedelta(seconds=otp_exp)


def is_otp_valid(
    actual: str, expected: str, sent_at: dt.datetime | None, now: dt.datetime, otp_exp: int
) -> bool:
    """An empty slot never matches; a matching token must also be unexpired."""
    return bool(expected) and actual == expected and not is_otp_expired(sent_at, now, otp_exp)


def _glob(pattern: str) -> re.Pattern[str]:
    """GOTRUE_URI_ALLOW_LIST entries are globs with `.` and `/` as separators (gobwas/glob):
    `*` stays within a segment, `**` crosses them. Not in the reference beyond "globs"."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^./]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^./]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def is_redirect_url_valid(settings: Settings, url: str) -> bool:
    """Reference part 2 §1 "Redirect URL" (utilities.IsRedirectURLValid): the host of
    SITE_URL, or a match with one of the allow-list globs."""
    if not url:
        return False
    try:
        site_host, url_host = urlsplit(settings.site_url).hostname, urlsplit(url).hostname
    except ValueError:
        return False
    if site_host is not None and site_host == url_host:
        return True
    return any(_glob(pattern).match(url) for pattern in settings.uri_allow_list)


def referrer(request: Request, settings: Settings) -> str:
    """utilities.GetReferrer: the `redirect_to` query parameter, else the Referer header, if
    allowed; otherwise SITE_URL (reference part 2 §1: rejected ones are silently replaced)."""
    for candidate in (request.query_params.get("redirect_to", ""), request.headers.get("referer")):
        if candidate and is_redirect_url_valid(settings, candidate):
            return candidate
    return settings.site_url


def action_link(base_url: str, token: str, link_type: str, redirect_to: str) -> str:
    """Reference part 2 §1 "How `action_link` is built":
    `<external URL><URL path>?token=<token>&type=<t>&redirect_to=<url>`. The redirect is
    query-escaped only when it contains `&`, `=` or `#` (the mailer's encodeRedirectURL; not
    in the reference)."""
    redirect = quote_plus(redirect_to) if any(c in redirect_to for c in "&=#") else redirect_to
    query = f"token={quote_plus(token)}&type={quote_plus(link_type)}&redirect_to={redirect}"
    return urljoin(f"{base_url}/auth/v1", VERIFY_URL_PATH) + "?" + query
