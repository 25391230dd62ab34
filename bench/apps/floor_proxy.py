"""Floor for the Supabase login: bare Starlette forwarding `POST /login` to Supabase's token
endpoint with one pooled aiohttp session (the service's client library), returning its body
as is.

What any Python hop in front of Supabase costs on this machine: no validation, throttling,
error mapping, models or logging. BENCH_SUPABASE_URL and BENCH_SUPABASE_ANON_KEY say where to.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from yarl import URL


def create_app() -> Starlette:
    token_url = URL(f"{os.environ['BENCH_SUPABASE_URL']}/auth/v1/token").with_query(
        grant_type="password"
    )
    headers = {"apikey": os.environ["BENCH_SUPABASE_ANON_KEY"], "content-type": "application/json"}
    sessions: list[aiohttp.ClientSession] = []

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # As the service: at most 4 kept-alive connections.
        connector = aiohttp.TCPConnector(limit=4)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            sessions.append(session)
            yield

    async def login(request: Request) -> Response:
        body = await request.body()
        async with sessions[0].post(token_url, data=body) as upstream:
            content = await upstream.read()
            status = upstream.status
        return Response(content, status, media_type="application/json")

    async def health(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[Route("/login", login, methods=["POST"]), Route("/health", health)],
        lifespan=lifespan,
    )
