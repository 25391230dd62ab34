"""`python -m auth_backend`: serve on HOST:PORT from the settings, with WEB_CONCURRENCY workers."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn
from pydantic import ValidationError

from auth_backend.observability.logging import configure_logging, logging_config
from auth_backend.observability.metrics import (
    prepare_multiprocess_dir,
    remove_multiprocess_dir,
)
from auth_backend.settings import Settings, describe_settings_error
from auth_backend.transport import PROTOCOL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auth_backend", description=__doc__)
    parser.add_argument(
        "--reload", action="store_true", help="restart on code changes (development)"
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(describe_settings_error(error), file=sys.stderr)
        return 2
    configure_logging(settings)
    # Reloading runs exactly one worker; metrics then need no shared directory.
    workers = 1 if args.reload else settings.web_concurrency
    logging.getLogger("auth_backend").info(
        "starting auth-backend on %s:%s with the %s provider and %d worker(s)",
        settings.host,
        settings.port,
        settings.provider,
        workers,
    )
    metrics_dir = prepare_multiprocess_dir(workers)
    if metrics_dir is not None:
        logging.getLogger("auth_backend").info(
            "metrics of the %d workers are summed from %s", workers, metrics_dir
        )
    try:
        uvicorn.run(
            "auth_backend.main:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            # Passed to every worker process, which configures its logging from it.
            log_config=logging_config(settings),
            log_level=settings.log_level,
            # Our middleware writes one access line per request, with the request id.
            access_log=False,
            # After SIGTERM: stop accepting, let in-flight requests finish for this long,
            # then close connections and run the lifespan's shutdown.
            timeout_graceful_shutdown=settings.shutdown_timeout,
            reload=args.reload,
            reload_dirs=["src"] if args.reload else None,
            # uvicorn's httptools protocol, with bounded headers and deadlines for receiving
            # a request (transport.py).
            http=PROTOCOL,
            proxy_headers=False,
            server_header=False,
        )
    finally:
        remove_multiprocess_dir(metrics_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
