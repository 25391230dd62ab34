"""`python -m bench.profile SCENARIO`: py-spy on the service while wrk drives one scenario.

Writes bench/profiles/SCENARIO.txt: where the server process spends its samples, by function
(self) and by call path (inclusive), for the explanations in bench/RESULTS.md. Scenarios:
`me` (GET /me, one token), `health`, `login` (the storm; all threads), `supabase-login`
(POST /login on the Supabase provider against the double, one connection). Needs py-spy from
bench/.venv (`make bench-env`) and wrk; run as root or with ptrace allowed.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict

from bench.loadgen import run_wrk
from bench.procs import ROOT, Server
from bench.suite import PASSWORD, Config, Suite, prepare_user, python_of, stopping


class WrkOptions(TypedDict, total=False):
    """The options of run_wrk a scenario sets (bench.loadgen.run_wrk's keyword arguments)."""

    method: str
    body: str
    headers: Sequence[str]
    connections: int
    tokens_file: Path
    cpus: str


PROFILES = ROOT / "bench" / "profiles"
PY_SPY = ROOT / "bench" / ".venv" / "bin" / "py-spy"
# Frames every sample of a uvicorn process has; they say nothing.
_NOISE = ("runpy", "auth_backend/__main__.py", "uvicorn/main.py", "uvicorn/server.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("scenario", choices=["me", "health", "login", "supabase-login"])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    if not PY_SPY.exists():
        sys.exit("py-spy is missing: run `make bench-env`")
    workdir = Path(tempfile.mkdtemp(prefix="auth-profile-"))
    suite = Suite(
        Config(
            seconds=args.seconds,
            warmup=1.0,
            connections=32,
            workdir=workdir,
            project_python=sys.executable,
            bench_python=python_of(ROOT / "bench" / ".venv"),
            tokens=1,
            supabase_logins=0,
            repeats=1,
            smoke=False,
        )
    )
    with target(suite, args.scenario) as (server, url, options):
        raw = workdir / "profile.raw"
        # Sample while wrk runs (it starts first; py-spy stops before it does).
        spy = subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "--pid",
                str(server.process.pid),
                "--duration",
                str(int(args.seconds - 2)),
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",
                *(["--threads"] if args.scenario == "login" else []),
                "-o",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        result = run_wrk(url, seconds=args.seconds, **options)
        spy.wait()
    PROFILES.mkdir(exist_ok=True)
    output = PROFILES / f"{args.scenario}.txt"
    header = (
        f"py-spy record --rate 250 on the server while `{result.command}` ran "
        f"({result.rps:.0f} req/s on this run); percentages of samples.\n"
    )
    output.write_text(header + summarize(raw, args.top), encoding="utf-8")
    print(output.read_text(encoding="utf-8"))
    return 0


@contextmanager
def target(suite: Suite, scenario: str) -> Iterator[tuple[Server, str, WrkOptions]]:
    json_header = "Content-Type: application/json"
    if scenario == "supabase-login":
        from doubles.supabase import run_double  # noqa: PLC0415

        with run_double(mode="es256") as double:
            double.create_user_directly("profile@example.com", PASSWORD)
            service = suite.start_service(
                "service-supabase",
                SUPABASE_URL=double.base_url,
                SUPABASE_SERVICE_KEY=double.service_key,
                SUPABASE_ANON_KEY=double.anon_key,
            )
            body = json.dumps({"email": "profile@example.com", "password": PASSWORD})
            with stopping(service):
                options: WrkOptions = {"method": "POST", "body": body, "headers": [json_header]}
                yield service, f"{service.base_url}/login", {**options, "connections": 1}
        return
    service = suite.start_service("service")
    with stopping(service):
        user = prepare_user(service.base_url, many=0)
        if scenario == "login":
            body = json.dumps({"email": user.email, "password": PASSWORD})
            login: WrkOptions = {"method": "POST", "body": body, "headers": [json_header]}
            yield service, f"{service.base_url}/login", login
            return
        service.pin("0")
        tokens = suite.config.workdir / "token.txt"
        tokens.write_text(user.token + "\n")
        path = "/me" if scenario == "me" else "/health"
        yield service, f"{service.base_url}{path}", {"tokens_file": tokens, "cpus": "1"}


def summarize(raw: Path, top: int) -> str:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        frames = [f for f in stack.split(";") if f and not f.startswith(_NOISE)]
        if frames and frames[0].startswith("thread ("):
            threads[frames[0].split(": ", 1)[-1].strip(")")] += samples
            frames = frames[1:]
        total += samples
        if frames:
            self_time[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    lines = [f"samples: {total}"]
    if threads:
        lines += ["", "by thread:"]
        lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in threads.most_common(top)]
    lines += ["", "self (the function itself):"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in self_time.most_common(top)]
    lines += ["", "inclusive (the function and what it calls):"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top * 2)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
