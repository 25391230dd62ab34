"""No work before the per-IP limit: a throttled client's password is never normalised (NFKC of
U+FDFA expands each character eighteenfold), nor its address validated."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from auth_backend import inputs
from tests.support.accounts import log_in, sign_up, unique_email
from tests.support.problems import problem_code
from tests.support.services import make_settings, running_app

# Within any plausible maxLength of the contract: the count of calls is what is tested.
EXPENSIVE = "\ufdfa" * 24


class Calls:
    def __init__(self) -> None:
        self.names: list[str] = []

    def counting(self, name: str, function: Callable[..., str]) -> Callable[..., str]:
        def counted(*args: str) -> str:
            self.names.append(name)
            return function(*args)

        return counted


@pytest.fixture
def normalisations(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    """Every call of inputs' normalisers, by name (the flows reach them through inputs)."""
    calls = Calls()
    for name in ("normalize_password", "normalize_email"):
        monkeypatch.setattr(inputs, name, calls.counting(name, getattr(inputs, name)))
    yield calls


async def test_a_throttled_login_normalises_nothing(tmp_path: Path, normalisations: Calls) -> None:
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path / 'auth.db'}", throttle_login_per_ip="1/minute"
    )
    async with running_app(settings) as (_app, client):
        assert (await log_in(client, unique_email(), EXPENSIVE)).status_code == 401
        # The counter sees the flow's normalisations when it is not throttled.
        assert sorted(normalisations.names) == ["normalize_email", "normalize_password"]
        normalisations.names.clear()
        response = await log_in(client, unique_email(), EXPENSIVE)
        assert problem_code(response) == (429, "rate_limited")
        assert normalisations.names == []


async def test_a_throttled_signup_normalises_nothing(tmp_path: Path, normalisations: Calls) -> None:
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path / 'auth.db'}", throttle_signup_per_ip="1/minute"
    )
    async with running_app(settings) as (_app, client):
        assert (await sign_up(client, unique_email(), EXPENSIVE)).status_code in (201, 400)
        assert "normalize_password" in normalisations.names
        normalisations.names.clear()
        response = await sign_up(client, unique_email(), EXPENSIVE)
        assert problem_code(response) == (429, "rate_limited")
        assert normalisations.names == []


async def test_a_login_refused_per_account_does_not_normalise_the_password(
    tmp_path: Path, normalisations: Calls
) -> None:
    # The address is normalised (bounded, it names the account); the password is not.
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path / 'auth.db'}", throttle_login_per_account="1/minute"
    )
    async with running_app(settings) as (_app, client):
        email = unique_email()
        assert (await log_in(client, email, EXPENSIVE)).status_code == 401
        normalisations.names.clear()
        assert problem_code(await log_in(client, email, EXPENSIVE)) == (429, "rate_limited")
        assert normalisations.names == ["normalize_email"]
