"""Generate the Pydantic models from the contract, or check the committed ones are current.

    python scripts/generate_models.py          # rewrite src/auth_backend/_generated_models.py
    python scripts/generate_models.py --check  # exit 1 and show a diff when they drift

The options live in pyproject.toml ([tool.datamodel-codegen]) so both modes use the same ones.
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "src" / "auth_backend" / "_generated_models.py"


def generate(output: Path) -> None:
    codegen = Path(sys.executable).with_name("datamodel-codegen")
    subprocess.run([str(codegen), "--output", str(output)], cwd=ROOT, check=True)  # noqa: S603


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed models drift")
    args = parser.parse_args()
    if not args.check:
        generate(COMMITTED)
        return 0
    # Generate inside the project so the formatter reads the project's ruff settings, exactly
    # as it does when writing the committed file.
    with tempfile.TemporaryDirectory(dir=ROOT / "src", prefix=".models-check-") as scratch:
        fresh = Path(scratch) / "models.py"
        generate(fresh)
        expected = fresh.read_text(encoding="utf-8")
    actual = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    if actual == expected:
        print("generated models are in sync with openapi/openapi.yaml")
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            actual.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            fromfile=str(COMMITTED.relative_to(ROOT)),
            tofile="fresh generation",
        )
    )
    print("\nmodels drift from the contract: run `make generate` and commit the result")
    return 1


if __name__ == "__main__":
    sys.exit(main())
