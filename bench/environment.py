"""What the numbers were measured on: the machine, the load on it, the software versions."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

# Floors, peer and service must run the same server stack for the ratios to mean anything.
SERVER_STACK = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "pydantic-core",
    "anyio",
    "h11",
    "cryptography",
    "argon2-cffi",
    # The HTTP client of the Supabase provider and of the proxy floor.
    "aiohttp",
    "aiohappyeyeballs",
    "aiosignal",
    "attrs",
    "frozenlist",
    "multidict",
    "propcache",
    "yarl",
)
OTHERS = ("joserfc", "pyjwt", "fastapi-users", "fastapi-users-db-sqlalchemy", "sqlalchemy")

_VERSIONS_SCRIPT = """
import json, sys
from importlib import metadata
names = json.loads(sys.argv[1])
found = {}
for name in names:
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps(found))
"""


def package_versions(python: str, names: tuple[str, ...]) -> dict[str, str]:
    completed = subprocess.run(
        [python, "-c", _VERSIONS_SCRIPT, json.dumps(names)],
        capture_output=True,
        text=True,
        check=True,
    )
    versions: dict[str, str] = json.loads(completed.stdout)
    return versions


def machine() -> dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "",
    }


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()
