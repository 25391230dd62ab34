"""Fuzz the running service against its contract with schemathesis.

    python scripts/fuzz_contract.py                    # `make fuzz`: long run, fresh random seed
    python scripts/fuzz_contract.py --seed 42 --max-examples 40 --max-time 0

`fuzz_service(env, ...)` starts `python -m auth_backend` as a real process with `env` on top
of a clean environment, signs up the account schemathesis logs in with, and runs every
schemathesis check (positive and negative data; examples, coverage, fuzzing and the stateful
phase over the contract's links) against it. A target is only a set of environment variables:
the local provider on a fresh SQLite file today, the Supabase provider pointed at a test
double tomorrow. The seed is always printed so that any run can be replayed.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi" / "openapi.yaml"
CONFIG = ROOT / "scripts" / "fuzz" / "schemathesis.toml"
# The account of schemathesis.toml's [auth.dynamic.openapi.bearerAuth].
FUZZ_EMAIL = "contract-fuzzer@auth-backend.test"
FUZZ_PASSWORD = "contract fuzzer password 1"
PHASES = "examples,coverage,fuzzing,stateful"
# Variables that would make the server process differ from what the target asks for.
_INHERITED_PREFIXES = ("SUPABASE_", "AUTH_", "DATABASE_", "ACCESS_TOKEN_", "JWT_", "SIGNUP_")


@dataclass(frozen=True)
class FuzzResult:
    returncode: int
    seed: int
    output: str
    server_log: str
    duration: float
    replay: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def fuzz_service(
    env: dict[str, str],
    *,
    workdir: Path,
    seed: int,
    max_examples: int,
    max_time: int = 0,
    workers: int = 1,
    spec: Path = SPEC,
    phases: str = PHASES,
) -> FuzzResult:
    """Start the service with `env`, fuzz it, stop it. `max_time` 0 means no time budget."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    server_log = workdir / "server.log"
    server = _start_server(env, port, workdir, server_log)
    try:
        _create_fuzz_account(base_url)
        runs = [
            _schemathesis(
                spec,
                base_url,
                workdir,
                seed=seed,
                max_examples=max_examples,
                max_time=max_time,
                workers=workers,
                phases=single_phases,
            )
            for single_phases in _split_phases(phases)
        ]
    finally:
        _stop_server(server)
    replay = " ".join(
        [
            "python scripts/fuzz_contract.py",
            f"--seed {seed} --max-examples {max_examples} --max-time {max_time}",
            f"--workers {workers}",
        ]
    )
    return FuzzResult(
        returncode=max(run.returncode for run in runs),
        seed=seed,
        output="\n".join(run.stdout + run.stderr for run in runs),
        server_log=server_log.read_text(encoding="utf-8", errors="replace"),
        duration=time.monotonic() - started,
        replay=replay,
    )


def _split_phases(phases: str) -> list[str]:
    """The stateful phase runs on its own: it then gets STATEFUL_EXAMPLES_FACTOR times the
    examples, which its scenarios need to walk every link (the per-phase setting of
    schemathesis.toml is overridden by --max-examples)."""
    selected = phases.split(",")
    others = [phase for phase in selected if phase != "stateful"]
    return [",".join(others)] * bool(others) + ["stateful"] * ("stateful" in selected)


STATEFUL_EXAMPLES_FACTOR = 3


def _schemathesis(
    spec: Path,
    base_url: str,
    workdir: Path,
    *,
    seed: int,
    max_examples: int,
    max_time: int,
    workers: int,
    phases: str,
) -> subprocess.CompletedProcess[str]:
    if phases == "stateful":
        max_examples *= STATEFUL_EXAMPLES_FACTOR
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        str(spec),
        "--url",
        base_url,
        "--checks",
        "all",
        "--mode",
        "all",
        "--phases",
        phases,
        "--seed",
        str(seed),
        "--max-examples",
        str(max_examples),
        "--workers",
        str(workers),
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(workdir / "report" / phases.replace(",", "-")),
        "--no-color",
    ]
    if max_time:
        command += ["--max-time", str(max_time)]
    return subprocess.run(  # noqa: S603 - our own venv's schemathesis
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONUTF8": "1"},
        capture_output=True,
        text=True,
        check=False,
    )


def local_target(workdir: Path) -> dict[str, str]:
    """The embedded provider on a brand-new SQLite file."""
    return {"AUTH_PROVIDER": "local", "DATABASE_URL": f"sqlite:///{workdir / 'auth.db'}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_THROTTLE_RULES = ("LOGIN_PER_IP", "LOGIN_PER_ACCOUNT", "SIGNUP_PER_IP", "REFRESH_PER_IP")


def _start_server(
    env: dict[str, str], port: int, workdir: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    full_env = {
        **inherited,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        # The fuzzer sends thousands of requests from one address; the limits are tested on
        # their own (tests/integration/test_throttling.py), here they would only stop it early.
        **{f"THROTTLE_{rule}": "1000000/minute" for rule in _THROTTLE_RULES},
        **env,
    }
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "auth_backend"],
            cwd=workdir,  # no developer .env is picked up
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    _stop_server(process)
    raise RuntimeError(f"the service did not become healthy:\n{log_path.read_text()}")


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _create_fuzz_account(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/signup",
        json={"email": FUZZ_EMAIL, "password": FUZZ_PASSWORD},
        timeout=30,
    )
    if response.status_code != 201:
        raise RuntimeError(f"could not create the fuzzing account: {response.status_code}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=None, help="default: a fresh random seed")
    parser.add_argument("--max-examples", type=int, default=500)
    parser.add_argument("--max-time", type=int, default=900, help="seconds; 0 for no budget")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    print(f"fuzzing the local target with seed {seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="auth-backend-fuzz-") as scratch:
        workdir = Path(scratch)
        result = fuzz_service(
            local_target(workdir),
            workdir=workdir,
            seed=seed,
            max_examples=args.max_examples,
            max_time=args.max_time,
            workers=args.workers,
        )
    print(result.output)
    if not result.passed:
        print(f"server log:\n{result.server_log}")
    print(f"seed {seed}, {result.duration:.0f} s; replay with: {result.replay}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
