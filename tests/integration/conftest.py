"""Fixtures of the mailed-code flows: the service on each provider, sending its mail to the real
SMTP server process (doubles/smtp) over STARTTLS with AUTH."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from doubles.smtp import SmtpServer
from doubles.supabase import SupabaseDouble
from tests.support.postgres import POSTGRES, SQLITE, fresh_store
from tests.support.services import make_settings, running_app, supabase_settings

PROVIDERS = ["local-sqlite", pytest.param("local-postgres", marks=pytest.mark.postgres), "supabase"]

# Limits and the request floor have tests of their own; here they must not get in the way.
UNTHROTTLED = {
    "throttle_email_send_per_ip": "10000/minute",
    "throttle_email_send_per_address": "10000/minute",
    "throttle_code_check_per_ip": "10000/minute",
    "throttle_code_check_per_address": "10000/minute",
    "throttle_signup_per_ip": "10000/minute",
    "throttle_login_per_ip": "10000/minute",
    "email_request_min_seconds": 0.0,
    "login_failure_min_seconds": 0.0,
}


@dataclass
class MailingService:
    client: httpx.AsyncClient
    app: FastAPI
    smtp: SmtpServer
    provider: str
    # The store's URL as the service uses it (with its async driver).
    database_url: str


def mail_settings(smtp: SmtpServer, **overrides: Any) -> dict[str, Any]:
    return {
        "smtp_url": smtp.url,
        "smtp_ca_file": smtp.ca_file,
        "smtp_timeout": 5.0,
        "outbox_poll_interval": 0.1,
        "outbox_retry_base": 0.2,
        "outbox_retry_max": 0.5,
        "refresh_token_reuse_interval": 0,
        **UNTHROTTLED,
        **overrides,
    }


async def start_mailing_service(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpServer, **overrides: Any
) -> AsyncIterator[MailingService]:
    """The service on `request.param`'s provider, mailing to `smtp`."""
    values = mail_settings(smtp, **overrides)
    if request.param == "supabase":
        double: SupabaseDouble = request.getfixturevalue("supabase_double")
        url = f"sqlite:///{tmp_path / 'store.db'}"
        settings = supabase_settings(double, database_url=url, **values)
        async with running_app(settings, request=request) as (app, client):
            yield MailingService(client, app, smtp, "supabase", settings.database_url)
        return
    kind = SQLITE if request.param == "local-sqlite" else POSTGRES
    async with fresh_store(
        kind, tmp_path, lambda: request.getfixturevalue("postgres_server")
    ) as url:
        settings = make_settings(database_url=url, **values)
        async with running_app(settings, request=request) as (app, client):
            yield MailingService(client, app, smtp, request.param, settings.database_url)


@pytest.fixture(params=PROVIDERS)
async def mailing_service(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer
) -> AsyncIterator[MailingService]:
    async for service in start_mailing_service(request, tmp_path, smtp_server):
        yield service


@pytest.fixture(params=PROVIDERS)
async def confirming_service(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer
) -> AsyncIterator[MailingService]:
    """As `mailing_service`, with EMAIL_CONFIRMATION=required."""
    async for service in start_mailing_service(
        request, tmp_path, smtp_server, email_confirmation="required"
    ):
        yield service
