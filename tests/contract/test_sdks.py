"""The SDKs client teams generate from the contract build without warnings and work against
the live service: a short program per language signs up, logs in, reads /me and handles a
409 and a 401 through the generated client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.generate_sdks import NODE_BIN, TOOLS, generate_python, generate_typescript
from tests.support.accounts import unique_email
from tests.support.services import LiveServer, service_missing

PROGRAMS = Path(__file__).parent / "sdk_programs"
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noUncheckedIndexedAccess": True,
        "target": "ES2022",
        "module": "ESNext",
        "moduleResolution": "Bundler",
        "lib": ["ES2022", "DOM"],
        "types": ["node"],
        "typeRoots": [str(TOOLS / "node_modules" / "@types")],
        "noEmit": True,
    },
    "include": ["*.ts", "client/**/*.ts"],
}


def node_tool(name: str) -> Path:
    tool = NODE_BIN / name
    if not tool.exists() or shutil.which("node") is None:
        service_missing(f"{tool} or node is missing: run `make node-tools`")
    return tool


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_the_python_sdk_works_against_the_live_service(
    live_server: LiveServer, tmp_path: Path
) -> None:
    generate_python(tmp_path / "auth_backend_client")
    email = unique_email("python-sdk")
    output = run(
        [sys.executable, str(PROGRAMS / "python_client.py"), live_server.base_url, email],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert f"python sdk ok: {email}" in output


def prepare_typescript_program(workdir: Path, spec: Path | None = None) -> Path:
    """The generated client in workdir/client, the program beside it, ready for tsc."""
    if spec is None:
        generate_typescript(workdir / "client")
    else:
        generate_typescript(workdir / "client", spec=spec)
    program = workdir / "main.ts"
    shutil.copy(PROGRAMS / "typescript_client.ts", program)
    (workdir / "package.json").write_text('{"private": true, "type": "module"}\n')
    (workdir / "tsconfig.json").write_text(json.dumps(TSCONFIG, indent=2))
    return program


@pytest.mark.slow
def test_the_typescript_sdk_type_checks_and_works_against_the_live_service(
    live_server: LiveServer, tmp_path: Path
) -> None:
    tsc, tsx = node_tool("tsc"), node_tool("tsx")
    program = prepare_typescript_program(tmp_path)
    run([str(tsc), "-p", str(tmp_path / "tsconfig.json")], cwd=tmp_path)
    email = unique_email("typescript-sdk")
    output = run([str(tsx), str(program), live_server.base_url, email], cwd=tmp_path)
    assert f"typescript sdk ok: {email}" in output
