"""Serve the test SMTP server (normally started by doubles/smtp/runner.py):

python -m doubles.smtp --port N [--tls-port M] --cert PEM --key PEM --username U
    --password P --maildir DIR [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m doubles.smtp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-port", type=int, default=None)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    args.maildir.mkdir(parents=True, exist_ok=True)
    asyncio.run(
        serve(
            host=args.host,
            port=args.port,
            tls_port=args.tls_port,
            cert_file=args.cert,
            key_file=args.key,
            username=args.username,
            password=args.password,
            maildir=args.maildir,
        )
    )


if __name__ == "__main__":
    main()
