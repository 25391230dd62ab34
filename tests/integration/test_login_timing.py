"""A failed login takes as long whatever made it fail: a wrong password, an unknown address,
a banned account (Supabase refuses those before checking the password) or an account whose
hash is older and slower (bcrypt from a Supabase export). Measured as an attacker would, with
interleaved requests and Welch's t; each test fails without the floor (security/timing.py)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import bcrypt
import httpx
import sqlalchemy as sa

from auth_backend.providers.local import LocalProvider
from auth_backend.store.schema import users
from doubles.supabase import SupabaseDouble
from tests.support.accounts import PASSWORD, unique_email
from tests.support.services import make_settings, running_app, supabase_settings
from tests.support.timing import indistinguishable

ROUNDS = 24
WRONG = "not the password at all"
# Limits are not under test here; the floor is set above the slowest natural failure below.
UNTHROTTLED = {
    "throttle_login_per_ip": "10000/minute",
    "throttle_login_per_account": "10000/minute",
}
FLOOR_SECONDS = 0.12


async def durations(
    client: httpx.AsyncClient, kinds: dict[str, Callable[[], str]]
) -> tuple[dict[str, list[float]], set[tuple[int, str]]]:
    """Each kind's wrong-password login durations, in shuffled rounds; the bodies seen."""
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    bodies: set[tuple[int, str]] = set()
    order = random.Random(2026)
    for _ in range(ROUNDS):
        names = list(kinds)
        order.shuffle(names)
        for name in names:
            started = time.perf_counter()
            response = await client.post("/login", json={"email": kinds[name](), "password": WRONG})
            samples[name].append(time.perf_counter() - started)
            bodies.add((response.status_code, response.text.split('"request_id"')[0]))
    return samples, bodies


async def test_supabase_failures_take_as_long_whatever_failed(
    supabase_double: SupabaseDouble,
) -> None:
    # GoTrue's bcrypt (cost 10) takes tens of milliseconds, only for an existing, unbanned
    # user: the double models it, so that unknown and banned answer much sooner.
    supabase_double.configure(password_check_latency=0.05)
    known, banned = unique_email("known"), unique_email("banned")
    supabase_double.create_user_directly(known, PASSWORD)
    supabase_double.create_user_directly(banned, PASSWORD, ban_duration="1h")
    settings = supabase_settings(
        supabase_double, login_failure_min_seconds=FLOOR_SECONDS, **UNTHROTTLED
    )
    async with running_app(settings) as (_app, client):
        samples, bodies = await durations(
            client,
            {
                "wrong password": lambda: known,
                "unknown address": lambda: unique_email("ghost"),
                "banned": lambda: banned,
            },
        )
    assert len(bodies) == 1  # one status and one body, bar the request id
    for kind in ("unknown address", "banned"):
        alike, ratio, t = indistinguishable(samples["wrong password"], samples[kind])
        assert alike, (kind, ratio, t)


async def test_an_older_hash_fails_as_fast_as_a_current_one(tmp_path: Path) -> None:
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path / 'auth.db'}",
        login_failure_min_seconds=FLOOR_SECONDS,
        **UNTHROTTLED,
    )
    async with running_app(settings) as (app, client):
        current, exported = unique_email("current"), unique_email("exported")
        for email in (current, exported):
            response = await client.post("/signup", json={"email": email, "password": PASSWORD})
            assert response.status_code == 201
        # As imported from a Supabase export: bcrypt at Supabase's cost, slower than Argon2id.
        legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
        provider: LocalProvider = app.state.provider
        async with provider.database.engine.begin() as connection:
            await connection.execute(
                sa.update(users).where(users.c.email == exported).values(password_hash=legacy)
            )
        samples, bodies = await durations(
            client,
            {
                "current hash": lambda: current,
                "older hash": lambda: exported,
                "unknown address": lambda: unique_email("ghost"),
            },
        )
    assert len(bodies) == 1
    for kind in ("older hash", "unknown address"):
        alike, ratio, t = indistinguishable(samples["current hash"], samples[kind])
        assert alike, (kind, ratio, t)
