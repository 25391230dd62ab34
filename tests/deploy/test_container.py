"""The container, proven without Docker: hadolint, docker-compose's own validation, the build
context, and a replay of the image's steps that ends with the image's CMD answering /health.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from scripts.service_process import free_port
from tests.deploy.dockerfile import Image, Replay, ignore_rules, in_context, parse
from tests.support.services import ROOT, service_missing

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
STAGES = parse(DOCKERFILE)
BUILDER, RUNTIME = STAGES


def tool(name: str) -> str:
    """A CLI from this virtualenv (hadolint) or the system (docker-compose)."""
    found = shutil.which(
        name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if found is None:
        service_missing(f"{name} is not installed (make install / .ci/run install it)")
    return str(found)


# --- Dockerfile --------------------------------------------------------------------------------


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    # Our own config, so that a developer's ~/.config/hadolint.yaml cannot ignore rules.
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\n", encoding="utf-8")
    result = subprocess.run(
        [tool("hadolint"), "--config", str(config), "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr


def test_the_image_is_slim_multi_stage_and_runs_as_a_non_root_user() -> None:
    assert [stage.base for stage in STAGES] == ["python:3.11-slim", "python:3.11-slim"]
    assert BUILDER.name == "builder"
    [user] = RUNTIME.all("USER")
    uid, _, gid = user.arguments.partition(":")
    runtime_args = dict(i.arguments.split("=", 1) for i in RUNTIME.all("ARG") if "=" in i.arguments)
    assert uid.startswith("$")
    assert int(runtime_args[uid.lstrip("$")]) >= 1000
    assert gid == uid
    assert [i.arguments for i in RUNTIME.all("EXPOSE")] == ["8080"]
    [cmd] = RUNTIME.all("CMD")
    assert cmd.exec_form() == ["python", "-m", "auth_backend"]


def test_dependencies_come_only_from_the_hashed_lock_files() -> None:
    commands = " ".join(i.arguments for i in BUILDER.all("RUN"))
    assert "--require-hashes --no-deps -r requirements.lock" in commands
    assert "--require-hashes --no-deps -r requirements-build.lock" in commands
    # The only other install is our own wheel, with the index switched off.
    assert commands.count('pip" install') == 3
    assert '"$VENV/bin/pip" install --no-deps --no-index dist/auth_backend-' in commands


def test_the_healthcheck_is_the_same_in_the_image_and_in_compose() -> None:
    [healthcheck] = RUNTIME.all("HEALTHCHECK")
    image_command = json.loads(healthcheck.arguments.partition("CMD ")[2])
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert compose["services"]["auth-backend"]["healthcheck"]["test"] == ["CMD", *image_command]
    # It needs nothing the slim image lacks: python and the standard library.
    assert image_command[:2] == ["python", "-c"]
    assert "urllib.request" in image_command[2]


# --- .dockerignore ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "tests/conftest.py",
        ".venv/bin/python",
        ".tools/bin/uv",
        "data/auth.db",
        ".env",
        ".git/HEAD",
        ".pytest_cache/v/cache/nodeids",
        ".mypy_cache/3.11/cache.db",
        ".ruff_cache/CACHEDIR.TAG",
        "src/auth_backend/__pycache__/main.cpython-311.pyc",
        "sdk/typescript/index.ts",
        "node_modules/x/index.js",
    ],
)
def test_the_build_context_leaves_out(path: str) -> None:
    assert not in_context(path, ignore_rules(ROOT / ".dockerignore"))


def test_the_build_context_has_what_the_dockerfile_copies() -> None:
    rules = ignore_rules(ROOT / ".dockerignore")
    for instruction in BUILDER.all("COPY"):
        *sources, _destination = instruction.arguments.split()
        for source in sources:
            files = [ROOT / source] if (ROOT / source).is_file() else (ROOT / source).rglob("*.py")
            for file in files:
                relative = file.relative_to(ROOT).as_posix()
                if "__pycache__" not in relative:
                    assert in_context(relative, rules), relative


# --- docker-compose.yml -----------------------------------------------------------------------


def compose(tmp_path: Path, *arguments: str) -> str:
    """docker-compose run on a copy of the project as a user has it after `cp .env.example .env`."""
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        [tool("docker-compose"), *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COMPOSE_PROJECT_NAME": "auth"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    compose(tmp_path, "config", "-q")


def test_the_compose_service_is_the_one_the_platform_expects(tmp_path: Path) -> None:
    config: dict[str, Any] = yaml.safe_load(compose(tmp_path, "config"))
    service = config["services"]["auth-backend"]
    assert service["container_name"] == "auth-backend"
    assert [(p["published"], p["target"]) for p in service["ports"]] == [(8080, 8080)]
    assert service["environment"]["HOST"] == "0.0.0.0"
    assert str(service["environment"]["PORT"]) == "8080"
    assert service["volumes"] == ["auth-data:/app/data:rw"]
    assert "auth-data" in config["volumes"]
    assert list(service["networks"]) == ["platform"]
    assert config["networks"]["platform"]["name"] == "platform"
    # Long enough for SHUTDOWN_TIMEOUT's default (20 s) to play out before a SIGKILL.
    assert service["stop_grace_period"] == "30s"
    assert service["build"]["context"] == str(tmp_path)
    # Without a profile, nothing but the service starts.
    assert "profiles" not in service


def test_profiles_add_postgres_redis_and_a_second_replica(tmp_path: Path) -> None:
    # docker-compose 1.x lists every service in `config`; profiles are read from its output.
    config: dict[str, Any] = yaml.safe_load(compose(tmp_path, "config"))
    profiles = {
        name: set(service.get("profiles", [])) for name, service in config["services"].items()
    }
    assert profiles == {
        "auth-backend": set(),
        "auth-backend-2": {"replicas"},
        "postgres": {"postgres", "replicas"},
        "redis": {"replicas"},
    }
    replica = config["services"]["auth-backend-2"]
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert replica["image"] == config["services"]["auth-backend"]["image"]


def test_a_copied_env_example_overrides_nothing_in_the_image() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assignments = [line for line in example.splitlines() if line and not line.startswith("#")]
    assert assignments == []


# --- the image's steps, replayed ----------------------------------------------------------------


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Image, Path]:
    """Build the image's filesystem under a temporary root, as the Dockerfile says."""
    root = tmp_path_factory.mktemp("image")
    shims = tmp_path_factory.mktemp("shims")
    # The base image's `python` is CPython 3.11 on PATH; so is this one.
    (shims / "python").symlink_to(Path(sys.executable).resolve())
    base_env = {
        "PATH": f"{shims}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path_factory.mktemp("home")),
        "LANG": "C.UTF-8",
    }
    replay = Replay(ROOT, root, base_env)
    try:
        image = replay.run(STAGES)
    except AssertionError as error:
        if "Could not find a version" in str(error) or "NewConnectionError" in str(error):
            service_missing(f"the package index is not reachable: {error}")
        raise
    return image, root


def _image_process(image: Image, port: int, log: Path) -> subprocess.Popen[bytes]:
    # The image's environment as it is, except the port: 8080 may be taken on this machine.
    env = {**image.env, "PORT": str(port)}
    with log.open("wb") as output:
        return subprocess.Popen(
            image.cmd, cwd=image.workdir, env=env, stdout=output, stderr=subprocess.STDOUT
        )


@pytest.mark.slow
def test_the_image_cmd_serves_health_with_the_image_environment(
    replayed: tuple[Image, Path], tmp_path: Path
) -> None:
    image, root = replayed
    assert image.env["HOST"] == "0.0.0.0"
    assert image.env["LOG_FORMAT"] == "json"
    assert image.env["PORT"] == "8080" == image.exposed[0]
    assert image.workdir == root / "app"
    # The wheel carries the contract; the service serves that copy, not the source tree's.
    packaged = next(root.glob("opt/venv/lib/python3.11/site-packages/auth_backend/openapi.yaml"))
    assert packaged.read_bytes() == (ROOT / "openapi" / "openapi.yaml").read_bytes()
    assert not (root / "opt" / "venv" / "lib" / "python3.11" / "site-packages" / "tests").exists()

    port = free_port()
    log = tmp_path / "image.log"
    process = _image_process(image, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                response = httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        served = httpx.get(f"{base}/openapi.json").json()
        assert served == yaml.safe_load(packaged.read_text(encoding="utf-8"))
        # The HEALTHCHECK command, with the image's environment, agrees.
        healthcheck = subprocess.run(
            image.healthcheck, env={**image.env, "PORT": str(port)}, check=False, timeout=10
        )
        assert healthcheck.returncode == 0
        # The SQLite default lands in /app/data, where the volume is mounted.
        assert (root / "app" / "data" / "auth.db").is_file()
        # Logs are JSON, as the image's LOG_FORMAT says.
        first_line = log.read_text(encoding="utf-8").splitlines()[0]
        assert json.loads(first_line)["logger"] == "auth_backend"
    finally:
        process.terminate()
        process.wait(timeout=30)
    # ... and the HEALTHCHECK fails once nothing answers.
    down = subprocess.run(
        image.healthcheck,
        env={**image.env, "PORT": str(port)},
        check=False,
        timeout=10,
        capture_output=True,
    )
    assert down.returncode != 0
