"""Start-up configuration and the settings the control API may change at run time."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Literal

from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey

Mode = Literal["es256", "hs256"]

# Reference §7: the Supabase CLI's public local-development vectors.
DEFAULT_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
DEFAULT_PUBLISHABLE_KEY = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"
DEFAULT_SECRET_KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"
# Reference §7: the demo keys' payload `exp` (2032-11-11T19:09:56Z).
LEGACY_KEY_EXP = 1983812996
# Reference §3.7 gives "v2.196.0" as the example build version; §0 reads that release.
GOTRUE_VERSION = "v2.196.0"
# Reference part 2 §2.3: GOTRUE_MAILER_OTP_EXP default (1 day).
DEFAULT_MAILER_OTP_EXP = 86400
# Not in the reference: the Supabase CLI's `site_url` default, used as GOTRUE_SITE_URL.
DEFAULT_SITE_URL = "http://127.0.0.1:3000"


def octet_key(secret: str) -> OctKey:
    """Import an HMAC secret. GoTrue accepts any secret (hack/test.env uses `testsecret`,
    reference §7), so joserfc's short-key warning is silenced here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return OctKey.import_key(secret.encode())


def legacy_api_key(secret: str, role: str) -> str:
    """A legacy anon/service_role key: HS256, header exactly {"alg","typ"} in that order and
    payload {"iss","role","exp"} (reference §4 and §7). With the default secret this reproduces
    the CLI's published key strings byte for byte."""
    return jwt.encode(
        {"alg": "HS256", "typ": "JWT"},
        {"iss": "supabase-demo", "role": role, "exp": LEGACY_KEY_EXP},
        octet_key(secret),
        default_type=None,
    )


@dataclass(frozen=True)
class DoubleConfig:
    """Fixed for the life of one double process."""

    base_url: str
    mode: Mode = "es256"
    jwt_secret: str = DEFAULT_JWT_SECRET
    anon_key: str = ""
    service_key: str = ""
    publishable_key: str = DEFAULT_PUBLISHABLE_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    # None = derive `<base_url>/auth/v1` (what the CLI sets, reference §7); "" = omit `iss`
    # (GoTrue's own default when GOTRUE_JWT_ISSUER is unset, reference §4).
    issuer: str | None = None
    jwt_exp: int = 3600
    # Reference part 2 §2.3: GOTRUE_MAILER_OTP_EXP, seconds a link or OTP stays valid after its
    # slot's sent-at time; 0 means the default (86400). Seeds `Settings.mailer_otp_exp`.
    mailer_otp_exp: int = DEFAULT_MAILER_OTP_EXP

    def __post_init__(self) -> None:
        if not self.anon_key:
            object.__setattr__(self, "anon_key", legacy_api_key(self.jwt_secret, "anon"))
        if not self.service_key:
            object.__setattr__(self, "service_key", legacy_api_key(self.jwt_secret, "service_role"))

    @property
    def default_issuer(self) -> str | None:
        if self.issuer is None:
            return f"{self.base_url}/auth/v1"
        return self.issuer or None


@dataclass
class Settings:
    """Tunable through `POST /__double/config`; `POST /__double/reset` restores them."""

    issuer: str | None  # None omits the `iss` claim (reference §4)
    jwt_exp: int = 3600  # GOTRUE_JWT_EXP default (reference §4, §6)
    # Reference §3.3 / §6: server default 0 s (the CLI template uses 10 s).
    refresh_token_reuse_interval: int = 0
    # Reference §3.1: GOTRUE_JWT_ADMIN_ROLES default.
    admin_roles: list[str] = field(default_factory=lambda: ["service_role", "supabase_admin"])
    # Reference §6: GOTRUE_PASSWORD_MIN_LENGTH default 6 (drives `weak_password` on sign-in).
    password_min_length: int = 6
    # Corrections (top of the reference): concurrent admin creates of one email race in the
    # database. The double reproduces the race with this pause between the duplicate check and
    # the insert; 0 makes it practically unobservable.
    create_user_db_latency: float = 0.02
    # GoTrue verifies passwords with bcrypt at cost 10, tens of milliseconds, after it has
    # found the user and checked the ban; the double hashes at cost 4 to stay fast. This pause
    # before the comparison gives a password check its real duration (0: the double's own).
    password_check_latency: float = 0.0
    # generate_link for an existing account writes its token (a user row and a one-time-token
    # row); for an unknown address it answers 404 after one lookup. This pause before the
    # write gives that branch its real extra cost (0: the double's own, in memory).
    token_write_latency: float = 0.0
    # Not in the reference: hosted projects sit behind Cloudflare, whose bot management sets a
    # `__cf_bm` cookie on answers. When set, every answer carries `Set-Cookie: __cf_bm=<value>`,
    # so that a client keeping cookies (and sending one user's to the next) shows itself.
    gateway_cookie: str | None = None
    # Reference part 2 §2.3: GOTRUE_MAILER_OTP_EXP (0 = the 86400 default).
    mailer_otp_exp: int = DEFAULT_MAILER_OTP_EXP
    # Reference part 2 §1 "Redirect URL": GOTRUE_SITE_URL and the GOTRUE_URI_ALLOW_LIST globs.
    site_url: str = DEFAULT_SITE_URL
    uri_allow_list: list[str] = field(default_factory=list)
    # Reference part 2 §2.3: GOTRUE_MAILER_SECURE_EMAIL_CHANGE_ENABLED (default true).
    secure_email_change_enabled: bool = True
    # Reference part 2 §2.4: GOTRUE_MAILER_AUTOCONFIRM; off (GoTrue's default) means an email
    # change needs both addresses verified. It does not affect the password grant (part 1 §3.2
    # makes `email_not_confirmed` unconditional).
    mailer_autoconfirm: bool = False
    # Reference part 2 §2.3: GOTRUE_SMTP_MAX_FREQUENCY, the per-user resend interval (s).
    smtp_max_frequency: float = 60.0

    @property
    def otp_exp(self) -> int:
        return self.mailer_otp_exp or DEFAULT_MAILER_OTP_EXP

    def copy(self) -> Settings:
        return dataclasses.replace(
            self, admin_roles=list(self.admin_roles), uri_allow_list=list(self.uri_allow_list)
        )
