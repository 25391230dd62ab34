"""`python -m auth_backend`: configuration errors stop it with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "AUTH_", "DATABASE_"))
    }
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-m", "auth_backend"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bad_port_stops_start_up_with_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, PORT="http")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("invalid configuration: PORT='http'")


def test_a_missing_supabase_key_is_named_without_echoing_secrets(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, SUPABASE_URL="https://abc.supabase.co", SUPABASE_JWT_SECRET="s3cr3t-value"
    )
    assert result.returncode == 2
    assert "SUPABASE_SERVICE_KEY" in result.stderr
    assert "s3cr3t-value" not in result.stderr + result.stdout


def test_settings_come_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ACCESS_TOKEN_TTL=1\n", encoding="utf-8")
    result = run_cli(tmp_path)
    assert result.returncode == 2
    assert "ACCESS_TOKEN_TTL='1'" in result.stderr
