"""wrk as the load generator: one run, one parsed result."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

LUA = Path(__file__).resolve().parent / "wrk" / "report.lua"
MARKER = "WRK_JSON "


@dataclass(frozen=True)
class WrkResult:
    command: str
    requests: int
    duration_us: int
    errors: int  # connect, read, write and timeout errors
    non_2xx: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # CPU seconds wrk itself used (it shares the machine with the server under test).
    client_cpu_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def ok_rps(self) -> float:
        ok = max(self.requests - self.non_2xx, 0)
        return ok / (self.duration_us / 1e6) if self.duration_us else 0.0

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "rps": round(self.rps, 1), "ok_rps": round(self.ok_rps, 1)}


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise FileNotFoundError("wrk is not installed (Debian: apt-get install wrk)")
    return found


def taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


def run_wrk(
    url: str,
    *,
    seconds: float,
    connections: int = 32,
    threads: int = 1,
    method: str = "GET",
    body: str = "",
    headers: Sequence[str] = (),
    tokens_file: Path | None = None,
    cpus: str | None = None,
) -> WrkResult:
    duration = f"{max(round(seconds), 1)}s"
    argv = [
        *taskset(cpus),
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
    ]
    env = {
        **os.environ,
        "WRK_METHOD": method,
        "WRK_BODY": body,
        "WRK_HEADERS": "\n".join(headers),
        "WRK_TOKENS": str(tokens_file) if tokens_file else "",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    result = parse(completed.stdout, describe(argv, method, headers, tokens_file))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return replace(result, client_cpu_s=round(cpu, 2))


def describe(
    argv: Sequence[str], method: str, headers: Sequence[str], tokens_file: Path | None
) -> str:
    """The command as a person would retype it (script inputs shown as variables)."""
    shown = [Path(a).name if a.endswith(("wrk", "report.lua")) else a for a in argv]
    if "report.lua" in shown:
        shown[shown.index("report.lua")] = "bench/wrk/report.lua"
    prefix = [f"WRK_METHOD={method}"] if method != "GET" else []
    if headers:
        prefix.append("WRK_HEADERS=…")
    if tokens_file:
        prefix.append("WRK_TOKENS=…")
    return " ".join([*prefix, *shown])


def parse(output: str, command: str = "") -> WrkResult:
    for line in output.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise ValueError(f"no {MARKER.strip()} line in wrk's output:\n{output}")
    return WrkResult(
        command=command,
        requests=int(data["requests"]),
        duration_us=int(data["duration_us"]),
        errors=int(
            data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"]
        ),
        non_2xx=int(data["status_errors"]),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )
