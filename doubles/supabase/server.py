"""uvicorn settings shared by `python -m doubles.supabase` and the in-process runner."""

from __future__ import annotations

import uvicorn

from .middleware import DoubleMiddleware


def uvicorn_config(app: DoubleMiddleware, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        # h11: the drop fault reaches the connection through uvicorn's per-request cycle.
        http="h11",
        lifespan="off",
        # The double must see the real peer (connection counting) and the raw forwarded
        # headers (rate limiting), so uvicorn must not rewrite them.
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=2,
    )
