"""The documentation pages: Swagger UI at /docs and ReDoc at /redoc, rendering /openapi.json.

Their JavaScript and CSS come from the service itself (/docs/static, vendored from npm by
scripts/vendor_docs_assets.py), never from a CDN, so the pages work where the platform runs
air-gapped. These routes document the contract; they are not operations of it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

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

    async def swagger_ui_redirect() -> HTMLResponse:
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

    app.add_api_route(DOCS_URL, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        OAUTH2_REDIRECT_URL, swagger_ui_redirect, methods=["GET"], include_in_schema=False
    )
    app.add_api_route(REDOC_URL, redoc, methods=["GET"], include_in_schema=False)
    app.mount(STATIC_URL, StaticFiles(directory=static_directory()), name="docs-static")


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
