"""`python -m bench`: the benchmark suite (`make bench`). See bench/RESULTS.md.

Runs with the project's interpreter (it starts `python -m auth_backend` from it); the floors
and the peer run from bench/.venv. `--smoke` runs every scenario for about a second and checks
only that numbers come out (the test suite uses it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import environment, mail, report
from bench.procs import ROOT
from bench.suite import Config, Suite, mb, prepare_user, python_of, stopping

RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- BEGIN GENERATED: make bench -->", "<!-- END GENERATED -->"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk -d per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="wrk run before each one")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    parser.add_argument("--tokens", type=int, default=2048, help="distinct tokens for /me")
    parser.add_argument("--supabase-logins", type=int, default=1000)
    parser.add_argument(
        "--rounds", type=int, default=2, help="runs per contender, order alternating"
    )
    parser.add_argument("--smoke", action="store_true", help="~1 s per scenario, no checks")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--write-results", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument(
        "--only",
        default="health,me,login,memory,supabase,scaling,argon2-7,mail",
        help="comma-separated phases to run",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.warmup, args.tokens, args.supabase_logins = 1.0, 0.0, 8, 50
        args.rounds = 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    phases = set(args.only.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="auth-bench-"))
    config = Config(
        seconds=args.seconds,
        warmup=args.warmup,
        connections=args.connections,
        workdir=workdir,
        project_python=sys.executable,
        bench_python=python_of(ROOT / "bench" / ".venv"),
        tokens=args.tokens,
        supabase_logins=args.supabase_logins,
        repeats=1 if args.smoke else 3,
        smoke=args.smoke,
        rounds=args.rounds,
    )
    started = time.monotonic()
    load_before = environment.load_average()
    info = describe_environment(config)
    suite = Suite(config)
    run = suite.run
    try:
        service = suite.start_service("service")
        run.values["startup_s"] = round(service.startup_seconds, 3)
        with stopping(service):
            user = prepare_user(service.base_url, many=config.tokens)
            log(f"service up in {service.startup_seconds:.2f} s; user and tokens ready")
            if "health" in phases:
                suite.health(service)
                log("health done")
            if "me" in phases:
                suite.me(service, user)
                log("me done")
            if "login" in phases:
                suite.login(service, user)
                log("login done")
            run.values.setdefault("memory.rss_mb", {})["pass 1"] = mb(service.rss_bytes())
            if "memory" in phases and not config.smoke:
                for n in range(2, config.repeats + 1):
                    suite.memory_pass(service, user, f"pass {n}")
                log("memory done")
        # A restart on the same database: the schema is current, the signing key exists.
        restarted = suite.start_service("service-restart", database="service")
        run.values["startup_restart_s"] = round(restarted.startup_seconds, 3)
        restarted.stop()
        if "supabase" in phases:
            suite.supabase()
            log("supabase done")
        if "scaling" in phases:
            suite.scaling(user)
            log("scaling done")
        if "argon2-7" in phases:
            suite.compact_hashing()
            log("argon2-7 done")
        if "mail" in phases:
            mail.run(suite)
            log("mail done")
    finally:
        if config.smoke or not args.json:
            shutil.rmtree(workdir, ignore_errors=True)
    info["load_average_before"] = load_before
    info["load_average_after"] = environment.load_average()
    info["duration_s"] = round(time.monotonic() - started, 1)
    info["uvicorn_options"] = suite.uvicorn_options
    data: dict[str, Any] = {"environment": info, **run.to_dict()}
    rows = report.rows(data)
    data["table"] = [row.__dict__ | {"verdict": row.verdict} for row in rows]
    print(render(data, rows))
    if args.json:
        args.json.write_text(json.dumps(data, indent=2, default=str) + "\n")
    if args.write_results:
        write_results(render(data, rows))
    return 0


def describe_environment(config: Config) -> dict[str, Any]:
    names = environment.SERVER_STACK + environment.OTHERS
    service_versions = environment.package_versions(config.project_python, names)
    bench_versions = (
        environment.package_versions(config.bench_python, names) if config.bench_python else {}
    )
    mismatched = [
        name
        for name in environment.SERVER_STACK
        if bench_versions and bench_versions.get(name) != service_versions.get(name)
    ]
    if mismatched and config.smoke:
        # The smoke test checks the harness, not the floors: run without bench/.venv.
        log(f"bench/.venv has another server stack ({mismatched}); smoke runs without it")
        config.bench_python = None
        bench_versions = {}
    elif mismatched:
        raise SystemExit(
            f"bench/.venv runs a different server stack than the service: {mismatched}; "
            "run `make bench-lock` and `make bench`"
        )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": environment.machine(),
        "service_versions": service_versions,
        "bench_versions": bench_versions,
        "git": git_describe(),
        "smoke": config.smoke,
        "seconds": config.seconds,
        "warmup": config.warmup,
        "connections": config.connections,
        "rounds": config.rounds,
    }


def git_describe() -> str:
    import subprocess  # noqa: PLC0415

    completed = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout.strip() else "")


def render(data: dict[str, Any], rows: list[report.Row]) -> str:
    info = data["environment"]
    machine = info["machine"]
    versions = info["service_versions"]
    bench_versions = info["bench_versions"]
    skipped = "".join(f"\n- skipped {name}: {why}" for name, why in data["skipped"].items())
    stack = ", ".join(f"{n} {versions[n]}" for n in environment.SERVER_STACK if n in versions)
    others = ", ".join(
        f"{n} {bench_versions.get(n) or versions.get(n)}"
        for n in environment.OTHERS
        if n in versions or n in bench_versions
    )
    ceiling = data["values"].get("login.ceiling", {})
    probe = data["values"].get("login.health_probe", {})
    logins = data["values"].get("supabase.logins", {})
    commands = "\n".join(f"    {command}" for command in data["commands"])
    return f"""\
Run of {info["date"]} on `{info["git"]}`{" (SMOKE: 1 s runs, not results)" if info["smoke"] else ""}

Machine: {machine["cpu"]}, {machine["cores"]} cores, {machine["memory_gib"]} GiB, \
{machine["os"]}, Linux {machine["kernel"]}, Python {machine["python"]}, {machine["wrk"]}.
Load average (1/5/15 min) before: {fmt_load(info["load_average_before"])}, \
after: {fmt_load(info["load_average_after"])} (the machine is shared; hence ratios).
Server stack (service, floors and peer alike): {stack}. Others: {others}.
uvicorn settings captured from `python -m auth_backend` and used for every server: \
`{json.dumps(info["uvicorn_options"], sort_keys=True)}`.
Suite duration: {info["duration_s"]} s. wrk: -t1 -c{info["connections"]} -d{info["seconds"]:g}s \
after a {info["warmup"]:g} s warm-up, unless a row says otherwise; each contender of a \
comparison runs {info["rounds"]} time(s), the order alternating (A B C, C B A), all \
contenders up at once; req/s is total requests ÷ total time, latencies the median of the \
rounds.{skipped}

{report.markdown_table(rows)}

Raw runs (2xx requests per second; latency percentiles from wrk):

{report.raw_table(data)}

Hashing: one Argon2id verification (m={ceiling.get("parameters", {}).get("memory_kib")} KiB, \
t={ceiling.get("parameters", {}).get("time_cost")}, \
p={ceiling.get("parameters", {}).get("parallelism")}) takes {ceiling.get("verify_cpu_ms")} ms of \
CPU, so the ceiling is {ceiling.get("ceiling_per_s")} logins/s on {ceiling.get("cores")} cores; \
{ceiling.get("cores")} threads verifying flat out achieved \
{ceiling.get("achieved_threads_per_s")}/s in this run.
/health probe during the storm (one request every 10 ms): {probe}.
Supabase, {logins.get("logins")} logins with 32 in flight: statuses {logins.get("statuses")}, \
{logins.get("new_connections")} new TCP connections to the double.
Resident memory (MB, all processes of the server): {data["values"].get("memory.rss_mb")}; \
Supabase-provider service: {data["values"].get("supabase.rss_mb")} MB.

Commands (server placement: `taskset -c 0` for single-worker throughput runs, wrk on CPU 1):

{commands}
"""


def fmt_load(load: tuple[float, float, float] | list[float]) -> str:
    return " / ".join(f"{value:.2f}" for value in load)


def write_results(generated: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else f"{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    RESULTS.write_text(f"{head}{BEGIN}\n{generated}\n{END}{tail}", encoding="utf-8")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
