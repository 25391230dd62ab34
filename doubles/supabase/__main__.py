"""Serve the Supabase Auth double:

python -m doubles.supabase --host 127.0.0.1 --port N --mode es256|hs256
    [--jwt-secret S] [--service-key K] [--anon-key K] [--issuer URL|omit] [--jwt-exp SECONDS]
    [--mailer-otp-exp SECONDS]
"""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .config import (
    DEFAULT_JWT_SECRET,
    DEFAULT_MAILER_OTP_EXP,
    DEFAULT_PUBLISHABLE_KEY,
    DEFAULT_SECRET_KEY,
    DoubleConfig,
)
from .server import uvicorn_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m doubles.supabase")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["es256", "hs256"], default="es256")
    parser.add_argument("--jwt-secret", default=DEFAULT_JWT_SECRET)
    parser.add_argument("--service-key", default="", help="default: legacy JWT from the secret")
    parser.add_argument("--anon-key", default="", help="default: legacy JWT from the secret")
    parser.add_argument("--publishable-key", default=DEFAULT_PUBLISHABLE_KEY)
    parser.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    parser.add_argument(
        "--issuer", default=None, help='`iss` claim; default <base>/auth/v1; "omit" leaves it out'
    )
    parser.add_argument("--jwt-exp", type=int, default=3600)
    parser.add_argument(
        "--mailer-otp-exp",
        type=int,
        default=DEFAULT_MAILER_OTP_EXP,
        help="GOTRUE_MAILER_OTP_EXP: seconds a link or OTP stays valid (0 = 86400)",
    )
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = DoubleConfig(
        base_url=f"http://{args.host}:{args.port}",
        mode=args.mode,
        jwt_secret=args.jwt_secret,
        anon_key=args.anon_key,
        service_key=args.service_key,
        publishable_key=args.publishable_key,
        secret_key=args.secret_key,
        issuer="" if args.issuer == "omit" else args.issuer,
        jwt_exp=args.jwt_exp,
        mailer_otp_exp=args.mailer_otp_exp,
    )
    uvicorn.Server(uvicorn_config(create_app(config), args.host, args.port, args.log_level)).run()


if __name__ == "__main__":
    main()
