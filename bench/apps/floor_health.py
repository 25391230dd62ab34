"""Floor: bare Starlette `GET /health`, the same bytes as the service's."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"status":"ok"}'


async def health(_request: Request) -> Response:
    return Response(BODY, media_type="application/json")


def create_app() -> Starlette:
    return Starlette(routes=[Route("/health", health, methods=["GET"])])
