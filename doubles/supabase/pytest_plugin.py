"""Pytest fixtures of the double, registered as a plugin by the main tests/conftest.py:

    pytest_plugins = ["doubles.supabase.pytest_plugin"]

Both doubles are session-scoped separate processes; every test starts from a reset double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .runner import SupabaseDouble, run_double


@pytest.fixture(scope="session")
def supabase_double_process() -> Iterator[SupabaseDouble]:
    """es256 mode (asymmetric signing key, JWKS populated), started once per session."""
    with run_double(mode="es256") as double:
        yield double


@pytest.fixture(scope="session")
def supabase_double_hs256_process() -> Iterator[SupabaseDouble]:
    """hs256 mode (legacy shared secret, empty JWKS), started once per session."""
    with run_double(mode="hs256") as double:
        yield double


@pytest.fixture
def supabase_double(supabase_double_process: SupabaseDouble) -> SupabaseDouble:
    supabase_double_process.reset()
    return supabase_double_process


@pytest.fixture
def supabase_double_hs256(supabase_double_hs256_process: SupabaseDouble) -> SupabaseDouble:
    supabase_double_hs256_process.reset()
    return supabase_double_hs256_process
