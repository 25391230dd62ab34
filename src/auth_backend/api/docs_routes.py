"""The documentation pages: Swagger UI at /docs and ReDoc at /redoc, rendering /openapi.json.

Their JavaScript and CSS come from the service itself (/docs/static, vendored from npm by
scripts/vendor_docs_assets.py), never from a CDN, so the pages work where the platform runs
air-gapped. These routes document the contract; they are not operations of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from auth_backend.api.operational import OperatorsOnly, operators_only

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
STATIC_URL = "/docs/static"
# Swagger UI keeps the token from Authorize across reloads, so "Try it out" stays easy.
SWAGGER_UI_PARAMETERS = {"persistAuthorization": True}
# The pages may load nothing from anywhere but this service: the browser enforces what the
# vendored assets promise (ReDoc's bundle, for one, links a logo from its CDN; blocked, it is
# simply not shown). The inline bootstrap scripts and styles are FastAPI's page templates;
# ReDoc runs its search in a blob: worker.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)


def static_directory() -> Path:
    return Path(str(resources.files("auth_backend").joinpath("docs_static")))


def register(app: FastAPI, title: str) -> None:
    def prefixed(request: Request, path: str) -> str:
        # Behind a proxy that mounts the service under a prefix, links must keep it.
        return str(request.scope.get("root_path", "")).rstrip("/") + path

    async def swagger_ui(request: Request) -> HTMLResponse:
        return _with_policy(
            get_swagger_ui_html(
                openapi_url=prefixed(request, OPENAPI_URL),
                title=f"{title} - Swagger UI",
                swagger_js_url=prefixed(request, f"{STATIC_URL}/swagger-ui-bundle.js"),
                swagger_css_url=prefixed(request, f"{STATIC_URL}/swagger-ui.css"),
                swagger_favicon_url=prefixed(request, f"{STATIC_URL}/favicon-32x32.png"),
                oauth2_redirect_url=prefixed(request, OAUTH2_REDIRECT_URL),
                swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
            )
        )

    async def swagger_ui_redirect(_request: Request) -> HTMLResponse:
        return _with_policy(get_swagger_ui_oauth2_redirect_html())

    async def redoc(request: Request) -> HTMLResponse:
        return _with_policy(
            get_redoc_html(
                openapi_url=prefixed(request, OPENAPI_URL),
                title=f"{title} - ReDoc",
                redoc_js_url=prefixed(request, f"{STATIC_URL}/redoc.standalone.js"),
                redoc_favicon_url=prefixed(request, f"{STATIC_URL}/favicon-32x32.png"),
                with_google_fonts=False,
            )
        )

    # Documentation is for the operators' networks only (api/operational.py), like /metrics.
    pages: list[tuple[str, Callable[[Request], Awaitable[Response]]]] = [
        (DOCS_URL, swagger_ui),
        (OAUTH2_REDIRECT_URL, swagger_ui_redirect),
        (REDOC_URL, redoc),
    ]
    for path, page in pages:
        app.add_api_route(path, operators_only(page), methods=["GET"], include_in_schema=False)
    app.mount(
        STATIC_URL, OperatorsOnly(StaticFiles(directory=static_directory())), name="docs-static"
    )
    # FastAPI's own route for OPENAPI_URL, added when the app was built.
    [openapi_route] = [
        route
        for route in app.router.routes
        if isinstance(route, Route) and route.path == OPENAPI_URL
    ]
    openapi_route.app = OperatorsOnly(openapi_route.app)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
