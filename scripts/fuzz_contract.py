"""Fuzz the running service against its contract with schemathesis.

    python -m scripts.fuzz_contract                    # `make fuzz`: long run, fresh random seed
    python -m scripts.fuzz_contract --seed 42 --max-examples 40 --max-time 0

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
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from auth_backend.security.throttling import Rule
from scripts.service_process import free_port, start_service, stop_process

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
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server_log = workdir / "server.log"
    server = start_service(
        _service_env(env), port=port, cwd=workdir, log_path=server_log, timeout=60
    )
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
        stop_process(server)
    replay = " ".join(
        [
            "python -m scripts.fuzz_contract",
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


# Every rate limit's variable, from the rate-limit table (security/throttling.py).
_THROTTLE_VARIABLES = tuple(rule.value.setting.upper() for rule in Rule)


def _service_env(env: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    return {
        **inherited,
        "LOG_LEVEL": "warning",
        # The fuzzer sends thousands of requests from one address; the limits are tested on
        # their own (tests/integration/test_throttling.py), here they would only stop it early.
        **dict.fromkeys(_THROTTLE_VARIABLES, "1000000/minute"),
        # Likewise the timing floors (tests/integration/test_login_timing.py and
        # test_email_request_timing.py): here they would only make every made-up code, failed
        # login and recovery request wait a quarter of a second.
        "LOGIN_FAILURE_MIN_SECONDS": "0",
        "EMAIL_REQUEST_MIN_SECONDS": "0",
        **env,
    }


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
