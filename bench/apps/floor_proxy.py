"""Floor for the Supabase login: bare Starlette forwarding `POST /login` to Supabase's token
endpoint with one pooled httpx client, returning its body as is.

What any Python hop in front of Supabase costs on this machine: no validation, throttling,
error mapping, models or logging. BENCH_SUPABASE_URL and BENCH_SUPABASE_ANON_KEY say where to.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def create_app() -> Starlette:
    base_url = f"{os.environ['BENCH_SUPABASE_URL']}/auth/v1"
    headers = {"apikey": os.environ["BENCH_SUPABASE_ANON_KEY"]}
    clients: list[httpx.AsyncClient] = []

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:
            clients.append(client)
            yield

    async def login(request: Request) -> Response:
        upstream = await clients[0].post(
            "/token",
            params={"grant_type": "password"},
            content=await request.body(),
            headers={"content-type": "application/json"},
        )
        return Response(upstream.content, upstream.status_code, media_type="application/json")

    async def health(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[Route("/login", login, methods=["POST"]), Route("/health", health)],
        lifespan=lifespan,
    )
