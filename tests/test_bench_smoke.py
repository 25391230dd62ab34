"""The benchmark harness (bench/, `make bench`) runs end to end against the real server.

About a second per scenario: this checks that every scenario produces parseable numbers,
never what the numbers are (those depend on the machine; see bench/RESULTS.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import ROOT, service_missing

pytestmark = pytest.mark.slow

# Scenarios that need only the project's environment; the PyJWT floor and the fastapi-users
# peer run too when bench/.venv exists (`make bench-env`).
ALWAYS = {
    "health.floor_starlette",
    "health.floor_fastapi",
    "health.service",
    "me.service",
    "me.service_many",
    "login.service",
    "login.argon2_7",
    "supabase.direct",
    "supabase.service",
    "mail.recover_known",
    "mail.recover_unknown",
    "mail.recover_known_together",
    "mail.recover_unknown_together",
    "mail.me_draining",
    "mail.me_idle",
}


def test_the_benchmark_harness_produces_numbers(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        service_missing("wrk is not installed (Debian: apt-get install wrk)")
    output = tmp_path / "smoke.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    data = json.loads(output.read_text())

    runs = data["wrk"]
    assert set(runs) >= ALWAYS, sorted(runs)
    for name, run in runs.items():
        assert run["requests"] > 0, name
        assert run["rps"] > 0 and run["p50_ms"] > 0 and run["p99_ms"] >= run["p50_ms"], name
        assert run["non_2xx"] == 0, (name, run)

    values = data["values"]
    assert values["startup_s"] > 0 and values["startup_restart_s"] > 0
    assert values["memory.rss_mb"]["pass 1"] > 0
    assert values["login.ceiling"]["ceiling_per_s"] > 0
    assert values["login.health_probe"]["requests"] > 0
    assert values["argon2_7"]["ceiling_per_s"] > 0 and values["argon2_7"]["rss_mb"] > 0
    logins = values["supabase.logins"]
    assert logins["ok"] == logins["logins"] and logins["new_connections"] >= 1
    mail = values["mail"]
    assert mail["backlog_mails"] > 0 and len(mail["me_runs"]) >= 2
    assert all(fill["mails"] > 0 for fill in mail["fills"])

    # Every target has a row, and the rendered report is in the output.
    targets = {row["target"] for row in data["table"]}
    assert {"1", "2", "3", "4", "5", "6", "7"} <= targets
    assert "| # | Measure | Result | Target |" in completed.stdout
