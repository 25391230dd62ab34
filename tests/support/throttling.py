"""Throttled services: the app on a chosen provider with chosen limits, behind a trusted proxy so
that each request may name its own client IP (X-Forwarded-For); outcome counts; fresh IPs."""

from __future__ import annotations

import collections
import random
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tests.support.postgres import POSTGRES, SQLITE, fresh_store
from tests.support.problems import problem_code
from tests.support.services import make_settings, running_app, supabase_settings

PROXY = "10.0.0.5"
# Every provider and store the `service` fixture (tests/conftest.py) runs on.
PROVIDERS = ["local-sqlite", pytest.param("local-postgres", marks=pytest.mark.postgres), "supabase"]
_random = random.SystemRandom()


def fresh_ip() -> str:
    """An address of 198.18.0.0/15 (benchmarking, RFC 2544) unlikely to have been used before:
    counters in the shared Redis outlive a test run."""
    return f"198.{_random.randint(18, 19)}.{_random.randint(0, 255)}.{_random.randint(1, 254)}"


def fresh_ips(count: int) -> list[str]:
    ips: set[str] = set()
    while len(ips) < count:
        ips.add(fresh_ip())
    return sorted(ips)


def from_ip(ip: str) -> dict[str, str]:
    """Headers that make the request come from `ip` (the peer is a trusted proxy)."""
    return {"X-Forwarded-For": ip}


@asynccontextmanager
async def throttled_service(
    request: pytest.FixtureRequest, tmp_path: Path, provider: str, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app on `provider` ("local-sqlite", "local-postgres", "supabase") with `overrides`,
    behind a trusted proxy (see `from_ip`)."""
    values: dict[str, Any] = {"trusted_proxies": "10.0.0.0/8", **overrides}
    if provider == "supabase":
        settings = supabase_settings(request.getfixturevalue("supabase_double"), **values)
        async with running_app(settings, client_ip=PROXY) as (app, client):
            yield app, client
        return
    kind = SQLITE if provider == "local-sqlite" else POSTGRES
    async with (
        fresh_store(kind, tmp_path, lambda: request.getfixturevalue("postgres_server")) as url,
        running_app(make_settings(database_url=url, **values), client_ip=PROXY) as (app, client),
    ):
        yield app, client


def outcomes(responses: Iterable[httpx.Response]) -> collections.Counter[tuple[int, str]]:
    """How many answers of each `(status, problem code)`; ("ok") for 2xx."""
    counted: collections.Counter[tuple[int, str]] = collections.Counter()
    for response in responses:
        ok = response.is_success
        counted[(response.status_code, "ok") if ok else problem_code(response)] += 1
    return counted


INVALID = (401, "invalid_credentials")
LIMITED = (429, "rate_limited")


# The provider-call metric's operation for a password login: the local provider's Protocol
# method, Supabase's grant.
SIGN_IN_OPERATIONS = frozenset({"sign_in", "password_grant"})


async def sign_in_calls(client: httpx.AsyncClient) -> float:
    """Password verifications asked of the provider so far (auth_backend_provider_calls_total),
    all outcomes."""
    text = (await client.get("/metrics")).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "auth_backend_provider_calls_total"
                and sample.labels.get("operation") in SIGN_IN_OPERATIONS
            ):
                total += sample.value
    return total
