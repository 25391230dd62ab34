"""The cache of verified access tokens: used only before `exp`, bounded, clearable."""

from __future__ import annotations

from uuid import uuid4

import pytest

from auth_backend.api.me_bodies import RenderedBodies
from auth_backend.domain import AccessClaims
from auth_backend.security.token_cache import VerifiedTokenCache

EXP = 1_000_000


def claims(expires_at: int = EXP) -> AccessClaims:
    return AccessClaims(
        subject=uuid4(),
        email="ada@example.com",
        role="authenticated",
        audience="authenticated",
        session_id=str(uuid4()),
        expires_at=expires_at,
        user_metadata={},
        app_metadata={},
    )


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_verified_token_is_served_from_the_cache_until_its_exp() -> None:
    clock = Clock(EXP - 10)
    cache = VerifiedTokenCache(clock=clock)
    verified = claims()
    cache.put("token", verified)
    assert cache.get("token") is verified
    clock.now = EXP - 0.001
    assert cache.get("token") is verified


@pytest.mark.parametrize("now", [EXP, EXP + 0.5, EXP + 29, EXP + 3600])
def test_at_exp_the_cache_steps_aside_and_forgets_the_token(now: float) -> None:
    # From exp on, full verification decides again (its leeway, its error message).
    clock = Clock(EXP - 10)
    cache = VerifiedTokenCache(clock=clock)
    cache.put("token", claims())
    clock.now = now
    assert cache.get("token") is None
    assert len(cache) == 0


def test_unknown_tokens_miss() -> None:
    cache = VerifiedTokenCache(clock=Clock(0))
    cache.put("token", claims())
    assert cache.get("other") is None
    assert cache.get("token" + "x") is None


def test_it_is_bounded_and_drops_the_oldest_first() -> None:
    cache = VerifiedTokenCache(max_entries=3, clock=Clock(0))
    for name in "abcd":
        cache.put(name, claims())
    assert len(cache) == 3
    assert cache.get("a") is None
    assert all(cache.get(name) is not None for name in "bcd")


def test_storing_a_token_again_evicts_nothing() -> None:
    cache = VerifiedTokenCache(max_entries=2, clock=Clock(0))
    cache.put("a", claims())
    cache.put("b", claims())
    cache.put("b", claims())
    assert cache.get("a") is not None and cache.get("b") is not None


def test_clear_forgets_everything() -> None:
    cache = VerifiedTokenCache(clock=Clock(0))
    cache.put("a", claims())
    cache.clear()
    assert cache.get("a") is None and len(cache) == 0


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        VerifiedTokenCache(max_entries=0)
    with pytest.raises(ValueError, match="at least 1"):
        RenderedBodies(max_entries=0)


def test_rendered_bodies_are_bounded_oldest_first() -> None:
    bodies = RenderedBodies(max_entries=2)
    for name in "abc":
        bodies.put(name, name.encode())
    assert len(bodies) == 2
    assert bodies.get("a") is None
    assert bodies.get("c") == b"c"
