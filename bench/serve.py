"""Serve a benchmark app (a floor or the peer) with the service's own uvicorn settings.

    python bench/serve.py bench.apps.floor_me:create_app

BENCH_UVICORN holds the keyword arguments that `python -m auth_backend` passes to uvicorn.run
(captured by bench/capture.py); only the app and the port differ. `log_config` is left out:
the service's own logging set-up is part of what the service is measured with, so a floor
gets uvicorn's default logging, which honours the captured `access_log` as the service does.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    options = json.loads(os.environ["BENCH_UVICORN"])
    options["port"] = int(os.environ["PORT"])
    uvicorn.run(sys.argv[1], factory=True, **options)


if __name__ == "__main__":
    main()
