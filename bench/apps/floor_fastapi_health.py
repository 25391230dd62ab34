"""Floor: bare FastAPI `GET /health` (no middleware), the same handler as the service's."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response

BODY = b'{"status":"ok"}'


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> Response:
        return Response(content=BODY, media_type="application/json")

    return app
