"""Generate the client SDKs from the contract, failing on any generator warning.

    python scripts/generate_sdks.py            # `make sdk`: sdk/python and sdk/typescript
    python scripts/generate_sdks.py --out DIR

Python: openapi-python-client (from the dev dependencies). TypeScript: @hey-api/openapi-ts
with its fetch client (pinned in tools/package.json, installed by `make node-tools`).
A warning means part of the contract did not make it into the SDK, so it is an error here.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi" / "openapi.yaml"
TOOLS = ROOT / "tools"
NODE_BIN = TOOLS / "node_modules" / ".bin"
PYTHON_CONFIG = TOOLS / "openapi-python-client.yaml"
PYTHON_PACKAGE = "auth_backend_client"
_WARNING = re.compile(r"warn", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class GenerationError(RuntimeError):
    pass


def _run(command: list[str], cwd: Path) -> str:
    # The venv's bin first: openapi-python-client formats its output with our ruff.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(  # noqa: S603 - pinned generators from the project's own environments
        command,
        cwd=cwd,
        env={**os.environ, "PATH": path, "NO_COLOR": "1", "FORCE_COLOR": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    output = _ANSI.sub("", result.stdout + result.stderr)
    if result.returncode != 0:
        raise GenerationError(f"{command[0]} failed ({result.returncode}):\n{output}")
    if _WARNING.search(output):
        raise GenerationError(f"{command[0]} warned:\n{output}")
    return output


def generate_python(out: Path, *, spec: Path = SPEC, meta: str = "none") -> Path:
    """The Python client; with meta "none", `out` is the importable package itself."""
    command = [
        str(Path(sys.executable).with_name("openapi-python-client")),
        "generate",
        "--path",
        str(spec),
        "--config",
        str(PYTHON_CONFIG),
        "--output-path",
        str(out),
        "--meta",
        meta,
        "--overwrite",
        "--fail-on-warning",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(command, cwd=out.parent)
    return out


def generate_typescript(out: Path, *, spec: Path = SPEC) -> Path:
    """The TypeScript client (types, SDK functions and a bundled fetch client) in `out`."""
    generator = NODE_BIN / "openapi-ts"
    if not generator.exists():
        raise GenerationError(f"{generator} is missing: run `make node-tools`")
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [str(generator), "-i", str(spec), "-o", str(out), "-c", "@hey-api/client-fetch"]
    _run(command, cwd=out.parent)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "sdk")
    args = parser.parse_args()
    try:
        python = generate_python(args.out / "python", meta="uv")
        typescript = generate_typescript(args.out / "typescript" / "src")
    except GenerationError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Python SDK: {python} (pip install {python})")
    print(f"TypeScript SDK: {typescript} (copy into your project; import from its index.ts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
