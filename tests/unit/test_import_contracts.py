"""The import direction (api -> application -> providers -> security) is enforced by
import-linter's contracts in `.importlinter`: they hold on the code, and break when a module
imports against them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the `auth_backend` package found first on `source_root`."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / ".importlinter")],
        cwd=source_root,
        env={**os.environ, "PYTHONPATH": str(source_root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        # A provider reaching up into the API layer.
        (
            "providers/local/users.py",
            "import auth_backend.api.state",
            "Layers: api -> application -> providers -> mail -> store -> security",
        ),
        # One provider borrowing from the other.
        (
            "providers/supabase/keys.py",
            "import auth_backend.providers.local.users",
            "The two providers share nothing but providers.base",
        ),
        # The application layer touching HTTP.
        ("auth.py", "import starlette.requests", "Only api/ sees HTTP and the wire models"),
        # A shared leaf depending on a layer.
        (
            "domain.py",
            "import auth_backend.auth",
            "The shared leaves import no layer",
        ),
    ],
)
def test_an_import_against_a_contract_breaks_it(
    tmp_path: Path, module: str, bad_import: str, contract: str
) -> None:
    shutil.copytree(
        ROOT / "src" / "auth_backend",
        tmp_path / "auth_backend",
        ignore=shutil.ignore_patterns("__pycache__", "docs_static"),
    )
    path = tmp_path / "auth_backend" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{bad_import}\n", encoding="utf-8")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout, result.stdout
