"""Schemathesis against a real `python -m auth_backend` process: nothing it answers may fall
outside the contract. Bounded for CI; `make fuzz` runs the long version with a fresh seed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from doubles.supabase import SupabaseDouble
from scripts.fuzz_contract import fuzz_service, local_target
from tests.contract.test_contract import operations

# A fixed seed keeps CI deterministic; FUZZ_SEED replays or explores another one.
SEED = int(os.environ.get("FUZZ_SEED", "20261125"))
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))


def supabase_target(double: SupabaseDouble) -> dict[str, str]:
    """The service on the Supabase provider, against the Supabase Auth test double."""
    return {
        "SUPABASE_URL": double.base_url,
        "SUPABASE_SERVICE_KEY": double.service_key,
        "SUPABASE_ANON_KEY": double.anon_key,
    }


@pytest.mark.slow
@pytest.mark.parametrize("target", ["local", "supabase"])
def test_schemathesis_finds_nothing(
    target: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if target == "supabase":
        env = supabase_target(request.getfixturevalue("supabase_double"))
    else:
        env = local_target(tmp_path)
    result = fuzz_service(env, workdir=tmp_path, seed=SEED, max_examples=MAX_EXAMPLES)
    print(f"{target}: seed {result.seed}, {result.duration:.0f} s")
    assert result.passed, (
        f"{result.output}\n--- server log ---\n{result.server_log}\n"
        f"replay: FUZZ_SEED={result.seed} or `{result.replay}`"
    )
    # The run must have exercised what it claims to: every operation, every link.
    links = sum(
        len(response.get("links", {}))
        for _method, _path, operation in operations()
        for response in operation["responses"].values()
    )
    assert f"Tested: {len(operations())}" in result.output
    assert f"API Links:    {links} covered / {links} selected / {links} total" in result.output
    assert "No issues found" in result.output
