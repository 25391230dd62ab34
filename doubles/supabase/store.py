"""In-memory users, sessions and refresh tokens, and their JSON shapes (reference §3.1, §3.3)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import uuid
from dataclasses import dataclass, field
from typing import Any


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def timestamp(value: dt.datetime) -> str:
    """RFC 3339 as Go's time.Time marshals it (reference §3.1): microseconds (Postgres
    precision) with trailing zeros trimmed, UTC as `Z`."""
    text = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def sorted_map(value: dict[str, Any]) -> dict[str, Any]:
    """Go marshals map[string]interface{} with sorted keys (app/user metadata, identity data)."""
    return {k: sorted_map(v) if isinstance(v, dict) else v for k, v in sorted(value.items())}


def new_refresh_token() -> str:
    """Reference §3.2: default (v1) refresh tokens are 12-char lowercase base32, e.g.
    `nx7rdpbmex6j`."""
    return base64.b32encode(os.urandom(8)).decode().lower()[:12]


@dataclass
class Identity:
    identity_id: str
    provider: str  # "email" or "phone"
    identity_data: dict[str, Any]
    email: str
    created_at: dt.datetime


@dataclass
class User:
    id: str
    aud: str
    role: str
    email: str  # "" when unset
    phone: str  # "" when unset; stored without the leading "+" (GoTrue's formatPhoneNumber)
    password_hash: str
    created_at: dt.datetime
    updated_at: dt.datetime
    app_metadata: dict[str, Any]
    user_metadata: dict[str, Any]
    identities: list[Identity] = field(default_factory=list)
    email_confirmed_at: dt.datetime | None = None
    phone_confirmed_at: dt.datetime | None = None
    last_sign_in_at: dt.datetime | None = None
    banned_until: dt.datetime | None = None
    invited_at: dt.datetime | None = None
    # Reference part 2 §1, §2.3: one live token per slot; each slot stores the token *hash*
    # (sha224(address + OTP)) and its sent-at time, which drives expiry.
    confirmation_token: str = ""
    confirmation_sent_at: dt.datetime | None = None
    recovery_token: str = ""
    recovery_sent_at: dt.datetime | None = None
    email_change_token_current: str = ""
    email_change_token_new: str = ""
    email_change: str = ""  # the pending new address (`new_email` in JSON)
    email_change_sent_at: dt.datetime | None = None
    email_change_confirm_status: int = 0  # part 2 §2.4: 1 after the first of two verifies

    def has_password(self) -> bool:
        return bool(self.password_hash)

    def clear_one_time_tokens(self) -> None:
        """Part 2 §2.3 / §4: every pending confirmation, recovery and email-change token."""
        self.confirmation_token = ""
        self.recovery_token = ""
        self.email_change_token_current = ""
        self.email_change_token_new = ""

    def merge_user_metadata(self, updates: dict[str, Any]) -> None:
        """Part 2 §4 "Metadata": merged key by key; a null value deletes the key."""
        for key, value in updates.items():
            if value is None:
                self.user_metadata.pop(key, None)
            else:
                self.user_metadata[key] = value

    def is_banned(self, now: dt.datetime) -> bool:
        return self.banned_until is not None and self.banned_until > now

    def to_json(self, *, from_database: bool) -> dict[str, Any]:
        """The User object of reference §3.1, members in GoTrue's struct order.

        `confirmed_at` is a read-only column computed by the database, so it is absent from the
        admin-create response (built in memory) and present once the user is read back
        (`from_database`), e.g. on /token and /user (reference §3.1, inferred)."""
        body: dict[str, Any] = {"id": self.id, "aud": self.aud, "role": self.role}
        body["email"] = self.email
        if self.email_confirmed_at:
            body["email_confirmed_at"] = timestamp(self.email_confirmed_at)
        if self.invited_at:
            body["invited_at"] = timestamp(self.invited_at)
        body["phone"] = self.phone
        if self.phone_confirmed_at:
            body["phone_confirmed_at"] = timestamp(self.phone_confirmed_at)
        if self.confirmation_sent_at:
            body["confirmation_sent_at"] = timestamp(self.confirmation_sent_at)
        confirmed = [t for t in (self.email_confirmed_at, self.phone_confirmed_at) if t]
        if from_database and confirmed:
            body["confirmed_at"] = timestamp(min(confirmed))
        if self.recovery_sent_at:
            body["recovery_sent_at"] = timestamp(self.recovery_sent_at)
        if self.email_change:
            body["new_email"] = self.email_change
        if self.email_change_sent_at:
            body["email_change_sent_at"] = timestamp(self.email_change_sent_at)
        if self.last_sign_in_at:
            body["last_sign_in_at"] = timestamp(self.last_sign_in_at)
        body["app_metadata"] = sorted_map(self.app_metadata)
        body["user_metadata"] = sorted_map(self.user_metadata)
        body["identities"] = [self._identity_json(i) for i in self.identities]
        body["created_at"] = timestamp(self.created_at)
        body["updated_at"] = timestamp(self.updated_at)
        if self.banned_until:
            body["banned_until"] = timestamp(self.banned_until)
        body["is_anonymous"] = False
        return body

    def _identity_json(self, identity: Identity) -> dict[str, Any]:
        """Reference §3.1: `id` is the provider id (the user id for email/phone),
        `identity_id` the row id; `last_sign_in_at` is the creation time."""
        body: dict[str, Any] = {
            "identity_id": identity.identity_id,
            "id": self.id,
            "user_id": self.id,
            "identity_data": sorted_map(identity.identity_data),
            "provider": identity.provider,
            "last_sign_in_at": timestamp(identity.created_at),
            "created_at": timestamp(identity.created_at),
            "updated_at": timestamp(identity.created_at),
        }
        if identity.email:
            body["email"] = identity.email
        return body


@dataclass
class Session:
    id: str
    user_id: str
    created_at: dt.datetime
    # Reference §4: `amr` holds {method, timestamp} objects; the sign-in method is kept for
    # the life of the session (refreshes do not add entries).
    amr: list[dict[str, Any]]
    aal: str = "aal1"


@dataclass
class RefreshToken:
    token: str
    session_id: str
    user_id: str
    parent: str | None
    updated_at: dt.datetime
    sequence: int
    revoked: bool = False


class Store:
    """All state lives here; handlers hold `lock` across every read-modify-write."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users: dict[str, User] = {}
        self.sessions: dict[str, Session] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        # What generate_link produced and what PUT /user would have mailed, oldest first, for
        # the control API (`GET /__double/links`, `GET /__double/mail`).
        self.links: list[dict[str, Any]] = []
        self.mail: list[dict[str, Any]] = []
        self._sequence = 0

    def clear(self) -> None:
        self.users.clear()
        self.sessions.clear()
        self.refresh_tokens.clear()
        self.links.clear()
        self.mail.clear()

    def find_by_email(self, email: str, aud: str) -> User | None:
        # Reference §3.1/§3.2: matching is case-insensitive and per audience.
        wanted = email.lower()
        return next((u for u in self.users.values() if u.email == wanted and u.aud == aud), None)

    def find_by_phone(self, phone: str, aud: str) -> User | None:
        return next(
            (u for u in self.users.values() if phone and u.phone == phone and u.aud == aud), None
        )

    def delete_user(self, user_id: str) -> bool:
        if self.users.pop(user_id, None) is None:
            return False
        self.logout(user_id, keep=None)
        return True

    def create_session(self, user: User, method: str, now: dt.datetime) -> Session:
        session = Session(
            id=str(uuid.uuid4()),
            user_id=user.id,
            created_at=now,
            amr=[{"method": method, "timestamp": int(now.timestamp())}],
        )
        self.sessions[session.id] = session
        return session

    def issue_refresh_token(
        self, session: Session, parent: str | None, now: dt.datetime
    ) -> RefreshToken:
        self._sequence += 1
        token = RefreshToken(
            token=new_refresh_token(),
            session_id=session.id,
            user_id=session.user_id,
            parent=parent,
            updated_at=now,
            sequence=self._sequence,
        )
        self.refresh_tokens[token.token] = token
        return token

    def active_refresh_token(self, session_id: str) -> RefreshToken | None:
        live = [
            t for t in self.refresh_tokens.values() if t.session_id == session_id and not t.revoked
        ]
        return max(live, key=lambda t: t.sequence, default=None)

    def revoke_session_tokens(self, session_id: str) -> None:
        """Corrections: reuse revokes every refresh token of the session; the session row
        stays, so its access tokens keep working on /user."""
        for token in self.refresh_tokens.values():
            if token.session_id == session_id:
                token.revoked = True

    def delete_session(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)
        for token in [t for t in self.refresh_tokens.values() if t.session_id == session_id]:
            del self.refresh_tokens[token.token]

    def logout(self, user_id: str, keep: str | None) -> None:
        """Delete the user's sessions (and their refresh tokens), except `keep`."""
        for session in [s for s in self.sessions.values() if s.user_id == user_id]:
            if session.id != keep:
                self.delete_session(session.id)
