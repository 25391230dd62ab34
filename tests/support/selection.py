"""Markers derived from what a test uses, so that `make test-fast` can leave out everything
that starts a process: `supabase` for the Supabase double (a separate process), `slow` for
the real server process of `live_server`. PostgreSQL parameters carry `postgres` already."""

from __future__ import annotations

import pytest

DOUBLE_FIXTURES = frozenset(
    {
        "supabase_double",
        "supabase_double_hs256",
        "supabase_double_process",
        "supabase_double_hs256_process",
    }
)
# Fixtures that start `python -m auth_backend` (tests/conftest.py).
PROCESS_FIXTURES = frozenset({"live_server"})


def uses_the_double(item: pytest.Item) -> bool:
    """The double's fixtures, or a `supabase` parameter (the `service` fixture and the tests
    parametrized over providers ask for the double with request.getfixturevalue)."""
    if DOUBLE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "supabase" in callspec.params.values()


def mark_by_resources(items: list[pytest.Item]) -> None:
    for item in items:
        if uses_the_double(item):
            item.add_marker(pytest.mark.supabase)
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
