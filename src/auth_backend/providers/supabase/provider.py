"""SupabaseProvider: Supabase Auth's accounts and sessions, its access tokens verified locally."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from auth_backend.domain import (
    AccessClaims,
    Capability,
    ClientContext,
    CodeTarget,
    Credentials,
    LogoutScope,
    NewAccount,
    RedeemedCode,
    TokenGrant,
    UpstreamCode,
    UserAccount,
)
from auth_backend.errors import (
    EmailNotConfirmed,
    InvalidCredentials,
    ProviderError,
    ProviderMisconfigured,
    ServiceError,
)
from auth_backend.providers.supabase.client import PROVIDER_NAME, SupabaseClient, parse_answer
from auth_backend.providers.supabase.errors import (
    GENERATE_LINK_CALL,
    PASSWORD_GRANT_CALL,
    REFRESH_CALL,
    UPDATE_PASSWORD_CALL,
    USER_TOKEN_CALL,
    VERIFY_CALL,
    NothingToMail,
    PasswordUnchanged,
    UpstreamFailed,
)
from auth_backend.providers.supabase.keys import SupabaseKeys
from auth_backend.security.passwords import MAX_PASSWORD_BYTES
from auth_backend.security.tokens import AccessTokenVerifier, UnknownKeyId

logger = logging.getLogger(__name__)

# Our contract's codes have six digits: GoTrue's default GOTRUE_MAILER_OTP_LENGTH.
OTP_DIGITS = 6


class _SupabaseUser(BaseModel):
    """The fields of Supabase's User object that our contract carries."""

    model_config = ConfigDict(extra="ignore")
    id: UUID
    email: str | None = ""
    role: str | None = "authenticated"
    aud: str | None = "authenticated"
    email_confirmed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_sign_in_at: datetime | None = None
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None

    def to_account(self) -> UserAccount:
        return UserAccount(
            id=self.id,
            email=self.email or "",
            role=self.role or "authenticated",
            aud=self.aud or "authenticated",
            email_confirmed_at=self.email_confirmed_at,
            created_at=self.created_at,
            updated_at=self.updated_at,
            last_sign_in_at=self.last_sign_in_at,
            user_metadata=self.user_metadata or {},
            app_metadata=self.app_metadata or {},
        )


class _GeneratedLink(_SupabaseUser):
    """generate_link's answer: the User object with the link's parts beside its fields."""

    email_otp: str
    hashed_token: str


class _SupabaseSession(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: str
    expires_in: int
    expires_at: int | None = None
    refresh_token: str
    user: _SupabaseUser


class SupabaseProvider:
    name = PROVIDER_NAME
    capabilities = frozenset(
        {
            Capability.ACCOUNTS,
            Capability.SESSIONS,
            Capability.RECOVERY,
            Capability.EMAIL_VERIFICATION,
        }
    )

    def __init__(
        self,
        *,
        project_url: str,
        service_key: str,
        anon_key: str | None,
        jwt_secret: str | None,
        issuer: str,
        auto_confirm: bool,
        client_ip_header: str,
        timeout_seconds: float,
        email_confirmation_required: bool = False,
    ) -> None:
        self._client = SupabaseClient(
            project_url=project_url,
            service_key=service_key,
            anon_key=anon_key,
            timeout_seconds=timeout_seconds,
        )
        auth_url = self._client.auth_url
        # Built once: every call names one of these, query included.
        self._admin_users_url = auth_url / "admin" / "users"
        self._password_grant_url = (auth_url / "token").with_query(grant_type="password")
        self._refresh_grant_url = (auth_url / "token").with_query(grant_type="refresh_token")
        self._logout_url = auth_url / "logout"
        self._generate_link_url = auth_url / "admin" / "generate_link"
        self._verify_url = auth_url / "verify"
        self._user_url = auth_url / "user"
        self._health_url = auth_url / "health"
        self._jwks_url = auth_url / ".well-known" / "jwks.json"
        # Confirmed at creation unless the address must be verified first.
        self._auto_confirm = auto_confirm and not email_confirmation_required
        self._confirmation_required = email_confirmation_required
        self._client_ip_header = client_ip_header
        self._keys = SupabaseKeys(self._fetch_jwks, jwt_secret)
        self._verifier = AccessTokenVerifier(issuer=issuer)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._client.open()
        try:
            await self._keys.refresh(force=True)
        except ServiceError as error:
            # Start anyway: Supabase may come back, and /ready reports it meanwhile.
            logger.warning("Supabase's JWKS is not available yet: %s", error.code)

    async def aclose(self) -> None:
        await self._keys.aclose()
        await self._client.aclose()

    # --- Accounts ----------------------------------------------------------------------------

    async def sign_up(self, account: NewAccount, context: ClientContext) -> UserAccount:
        body = {
            "email": account.email,
            "password": account.password,
            "email_confirm": self._auto_confirm,
            "user_metadata": account.user_metadata,
        }
        try:
            answer = await self._create_user(body)
        except UpstreamFailed:
            # Supabase's duplicate check and insert are not atomic: of two creates of one
            # address, the loser gets a 500 once the winner's row exists. Asked again, it
            # answers as to any duplicate (email_exists), so a lost race reads as one.
            answer = await self._create_user(body)
        return parse_answer(_SupabaseUser, answer, "admin_create_user").to_account()

    async def _create_user(self, body: dict[str, Any]) -> bytes:
        return await self._client.call(
            "POST",
            self._admin_users_url,
            "admin_create_user",
            body=body,
            headers=self._client.admin_headers,
        )

    async def sign_in(self, credentials: Credentials, context: ClientContext) -> TokenGrant:
        if len(credentials.password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            # No account can have such a password, and bcrypt on Supabase's side cannot
            # compare it; answer as for any wrong password.
            raise InvalidCredentials()
        answer = await self._client.call(
            "POST",
            self._password_grant_url,
            "password_grant",
            body={"email": credentials.email, "password": credentials.password},
            headers=self._user_headers(context),
            overrides=PASSWORD_GRANT_CALL,
        )
        grant = _grant(parse_answer(_SupabaseSession, answer, "password_grant"))
        if self._confirmation_required and grant.user.email_confirmed_at is None:
            # A project that does not itself require confirmation let the login through:
            # end the session it started, and answer as the contract says.
            await self._end_session(grant.access_token, "local", context)
            raise EmailNotConfirmed()
        return grant

    # --- Recovery and EmailVerification ------------------------------------------------------
    # Supabase makes the codes (admin/generate_link sends nothing) and we mail them; a code
    # is confirmed with POST /verify, by the address and the code, or by Supabase's own hash
    # of it (reference part 2 sections 1 and 2).

    async def recovery_target(self, email: str) -> CodeTarget | None:
        return await self._generate_link("recovery", email)

    async def reset_password(
        self, redeemed: RedeemedCode, password: str, context: ClientContext
    ) -> TokenGrant:
        grant = await self._verify("recovery", redeemed, context)
        # verify only proves the mail; PUT /user sets the password and ends every other
        # session of the user (reference part 2 section 4).
        headers = {**self._user_headers(context), "Authorization": f"Bearer {grant.access_token}"}
        try:
            await self._client.call(
                "PUT",
                self._user_url,
                "update_user_password",
                body={"password": password},
                headers=headers,
                overrides=UPDATE_PASSWORD_CALL,
            )
        except PasswordUnchanged:
            # Nothing to set, but the other sessions must end all the same.
            await self._end_session(grant.access_token, "others", context)
        except ServiceError:
            # Supabase's own policy refused it, or it failed: the session verify started
            # must not outlive a recovery that did not happen.
            await self._end_session_quietly(grant.access_token, context)
            raise
        return grant

    async def verification_target(self, email: str) -> CodeTarget | None:
        # For an unconfirmed account this replaces its confirmation code; a confirmed or
        # unknown address is refused (email_exists, or a new signup without a password).
        return await self._generate_link("signup", email)

    async def confirm_email(self, redeemed: RedeemedCode, context: ClientContext) -> TokenGrant:
        return await self._verify("signup", redeemed, context)

    async def _generate_link(self, link_type: str, email: str) -> CodeTarget | None:
        try:
            answer = await self._client.call(
                "POST",
                self._generate_link_url,
                "generate_link",
                body={"type": link_type, "email": email},
                headers=self._client.admin_headers,
                overrides=GENERATE_LINK_CALL,
            )
        except NothingToMail:
            return None
        link = parse_answer(_GeneratedLink, answer, "generate_link")
        if len(link.email_otp) != OTP_DIGITS or not link.email_otp.isdigit():
            logger.error(
                "Supabase makes one-time codes of %d characters; set its "
                "GOTRUE_MAILER_OTP_LENGTH to %d, the length our contract accepts",
                len(link.email_otp),
                OTP_DIGITS,
            )
            raise ProviderMisconfigured()
        return CodeTarget(
            user_id=link.id,
            email=link.email or email,
            upstream=UpstreamCode(code=link.email_otp, token_hash=link.hashed_token),
        )

    async def _verify(
        self, verify_type: str, redeemed: RedeemedCode, context: ClientContext
    ) -> TokenGrant:
        body: dict[str, Any]
        if redeemed.upstream_token_hash is not None:
            body = {"type": verify_type, "token_hash": redeemed.upstream_token_hash}
        else:
            body = {"type": verify_type, "email": redeemed.email, "token": redeemed.code}
        answer = await self._client.call(
            "POST",
            self._verify_url,
            "verify",
            body=body,
            headers=self._user_headers(context),
            overrides=VERIFY_CALL,
        )
        return _grant(parse_answer(_SupabaseSession, answer, "verify"))

    async def _end_session(
        self, access_token: str, scope: LogoutScope, context: ClientContext
    ) -> None:
        headers = {**self._user_headers(context), "Authorization": f"Bearer {access_token}"}
        await self._client.call(
            "POST",
            self._logout_url.with_query(scope=scope),
            "logout",
            headers=headers,
            overrides=USER_TOKEN_CALL,
        )

    async def _end_session_quietly(self, access_token: str, context: ClientContext) -> None:
        try:
            await self._end_session(access_token, "local", context)
        except ServiceError as error:
            logger.warning("could not end the session of a failed recovery: %s", error.code)

    # --- Sessions ----------------------------------------------------------------------------

    async def refresh(self, refresh_token: str, context: ClientContext) -> TokenGrant:
        answer = await self._client.call(
            "POST",
            self._refresh_grant_url,
            "refresh_token_grant",
            body={"refresh_token": refresh_token},
            headers=self._user_headers(context),
            overrides=REFRESH_CALL,
        )
        return _grant(parse_answer(_SupabaseSession, answer, "refresh_token_grant"))

    async def sign_out(
        self, access_token: str, claims: AccessClaims, scope: LogoutScope, context: ClientContext
    ) -> None:
        # Supabase identifies the session from the user's own token.
        await self._end_session(access_token, scope, context)

    # --- every provider ----------------------------------------------------------------------

    async def verify_access_token(self, token: str) -> AccessClaims:
        self._keys.refresh_in_background_if_stale()
        algorithms = self._keys.algorithms
        try:
            return self._verifier.verify(token, self._keys.resolve, algorithms)
        except UnknownKeyId:
            if not await self._refresh_keys_for_unknown_kid():
                raise
        return self._verifier.verify(token, self._keys.resolve, algorithms)

    async def public_keys(self) -> dict[str, Any]:
        if not self._keys.loaded:
            await self._refresh_keys_for_unknown_kid()
        return self._keys.public_jwks()

    async def check_ready(self) -> None:
        # /health sits behind the gateway's key check, so this proves both reachability
        # and that the service key is accepted.
        await self._client.call(
            "GET", self._health_url, "health", headers=self._client.admin_headers
        )

    # --- helpers -----------------------------------------------------------------------------

    def _user_headers(self, context: ClientContext) -> dict[str, str]:
        headers = {"apikey": self._client.anon_key}
        if self._client_ip_header and context.ip:
            headers[self._client_ip_header] = context.ip
        return headers

    async def _fetch_jwks(self) -> dict[str, Any]:
        answer = await self._client.call("GET", self._jwks_url, "jwks")
        try:
            data = json.loads(answer)
        except ValueError:
            logger.warning("Supabase answered jwks with a non-JSON body")
            raise ProviderError() from None
        if not isinstance(data, dict):
            logger.warning("Supabase's answer to jwks does not have the expected shape")
            raise ProviderError()
        return data

    async def _refresh_keys_for_unknown_kid(self) -> bool:
        try:
            return await self._keys.refresh()
        except ServiceError:
            if self._keys.loaded:
                return False  # keep verifying with the keys we have
            raise


def _grant(session: _SupabaseSession) -> TokenGrant:
    return TokenGrant(
        access_token=session.access_token,
        expires_in=session.expires_in,
        expires_at=session.expires_at or int(time.time()) + session.expires_in,
        refresh_token=session.refresh_token,
        user=session.user.to_account(),
    )
