"""The pre-commit configuration is one pre-commit accepts, and runs only the project's tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.services import ROOT

CONFIG = ROOT / ".pre-commit-config.yaml"


def test_pre_commit_accepts_the_configuration(tmp_path: Path) -> None:
    pre_commit = Path(sys.executable).parent / "pre-commit"
    result = subprocess.run(
        [str(pre_commit), "validate-config", str(CONFIG)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": str(pre_commit.parent), "PRE_COMMIT_HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hook_is_local_and_uses_the_project_environment() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    assert {hook["id"] for hook in hooks} == {
        "ruff-check",
        "ruff-format",
        "check-models",
        "check-env",
        "check-lock",
    }
    for hook in hooks:
        assert hook["language"] == "system"
        assert hook["entry"].startswith((".venv/bin/", "make ")), hook
