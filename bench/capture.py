"""Print, as JSON, the keyword arguments `python -m auth_backend` passes to uvicorn.run.

Run with the project's interpreter and the service's environment; the launcher runs as it
does for real (settings, logging) except that uvicorn.run records its arguments instead of
serving. bench/serve.py then serves the floors and the peer with exactly these settings.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from typing import Any
from unittest import mock

import uvicorn

# Development-only or not transferable to another app (the service's logging set-up names
# the service's own classes; the floors are measured bare).
_DROPPED = {"factory", "reload", "reload_dirs", "log_config"}
MARKER = "BENCH_UVICORN "


def main() -> None:
    captured: dict[str, Any] = {}

    def record(_app: object, **options: Any) -> None:
        captured.update(options)

    with mock.patch.object(uvicorn, "run", record):
        from auth_backend.__main__ import main as launch  # noqa: PLC0415 (after the patch)

        with contextlib.redirect_stderr(io.StringIO()):
            status = launch([])
    if status or not captured:
        sys.exit(f"the launcher did not reach uvicorn.run (exit status {status})")
    options = {name: value for name, value in captured.items() if name not in _DROPPED}
    if str(options.get("http", "")).startswith("auth_backend."):
        # The service's own protocol (httptools with header limits and request deadlines,
        # src/auth_backend/transport.py) lives in the service: the floors run uvicorn's
        # httptools protocol it extends, so any cost of the limits counts against the service.
        options["http"] = "httptools"
    # The launcher's own logging may write to stdout too: the options are the marked line.
    print(MARKER + json.dumps(options, sort_keys=True))


if __name__ == "__main__":
    main()
