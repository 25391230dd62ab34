"""Provider-neutral domain objects. Providers return these; only `api/` maps them to the wire."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

JsonObject = dict[str, Any]


class Capability(StrEnum):
    """What an identity provider may offer beyond verifying tokens (providers/base.py has
    the Protocol of each)."""

    ACCOUNTS = "accounts"
    SESSIONS = "sessions"
    RECOVERY = "account recovery"
    EMAIL_VERIFICATION = "email verification"


# Which sessions a logout ends: the token's own, all of the user's, or all but the token's.
LogoutScope = Literal["local", "global", "others"]


@dataclass(frozen=True, slots=True)
class UserAccount:
    id: UUID
    email: str
    role: str
    aud: str
    email_confirmed_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    last_sign_in_at: datetime | None
    user_metadata: JsonObject = field(default_factory=dict)
    app_metadata: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewAccount:
    """A validated signup: normalised email, policy-checked password."""

    email: str
    password: str
    user_metadata: JsonObject
    # False when the address must be verified before the account may log in.
    email_confirmed: bool = True


@dataclass(frozen=True, slots=True)
class Credentials:
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class ClientContext:
    """What we know about the end user's request, for providers that rate-limit or audit."""

    ip: str | None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_in: int
    expires_at: int
    refresh_token: str
    user: UserAccount


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token that the service relies on."""

    subject: UUID
    email: str
    role: str
    audience: str
    session_id: str | None
    expires_at: int
    user_metadata: JsonObject
    app_metadata: JsonObject

    def to_account(self) -> UserAccount:
        # Tokens carry no timestamps (Supabase's don't either), so those stay unknown.
        return UserAccount(
            id=self.subject,
            email=self.email,
            role=self.role,
            aud=self.audience,
            email_confirmed_at=None,
            created_at=None,
            updated_at=None,
            last_sign_in_at=None,
            user_metadata=self.user_metadata,
            app_metadata=self.app_metadata,
        )


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a verified access token and its claims."""

    token: str
    claims: AccessClaims


@dataclass(frozen=True, slots=True)
class UpstreamCode:
    """A provider's own one-time code for a mail we send (Supabase's generate_link): the
    code to mail, and the provider's hash that confirms it without the address."""

    code: str
    token_hash: str


@dataclass(frozen=True, slots=True)
class CodeTarget:
    """The account a mailed code would reach. `upstream` is set when the provider made the
    code itself; otherwise the service makes one."""

    user_id: UUID
    email: str
    upstream: UpstreamCode | None = None


@dataclass(frozen=True, slots=True)
class RedeemedCode:
    """A mailed code that was right, live and is now used up: for the provider to act on.
    `code` is what the user typed (when they typed it); `upstream_token_hash` is the
    provider's own hash, recovered with the link's token (when they followed the link)."""

    user_id: UUID
    email: str
    code: str | None = None
    upstream_token_hash: str | None = None


@dataclass(frozen=True, slots=True)
class CodeProof:
    """What a user presents from a mail: the code and the address it went to, or the link's
    token."""

    email: str | None = None
    code: str | None = None
    link_token: str | None = None
