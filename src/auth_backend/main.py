"""The application factory, and the ASGI `app` that uvicorn imports.

Nothing happens at import time: `create_app` builds everything from the settings it is given,
and the lifespan opens and closes the provider's connections.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from auth_backend.api import docs_routes, operations
from auth_backend.api.me_bodies import RenderedBodies
from auth_backend.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from auth_backend.api.problems import install_problem_handlers
from auth_backend.api.routing import OperationRoute, hot_paths_first
from auth_backend.auth import AuthService
from auth_backend.contract import load_contract
from auth_backend.email_flows import EmailFlows, EmailFlowSettings
from auth_backend.mail.templates import MailTemplates
from auth_backend.mail.transports import transport_for
from auth_backend.mail.worker import OutboxWorker
from auth_backend.providers import build_provider
from auth_backend.providers.base import IdentityProvider
from auth_backend.security.throttling import Rule, Throttle, storage_for
from auth_backend.security.timing import FailureFloor
from auth_backend.settings import Settings
from auth_backend.store.database import open_database
from auth_backend.store.migrations import migrate

logger = logging.getLogger("auth_backend")
# At shutdown, seconds an outbox worker's sends in flight get to finish: well inside
# SHUTDOWN_TIMEOUT's default, so requests still draining keep most of it.
OUTBOX_STOP_GRACE_SECONDS = 2.0


def create_app(
    settings: Settings | None = None, provider: IdentityProvider | None = None
) -> FastAPI:
    settings = settings or Settings()
    # The service's own store (codes, the mail outbox; the local provider's accounts too).
    database = open_database(
        settings.database_url,
        connect_timeout=settings.database_connect_timeout,
        statement_timeout=settings.database_statement_timeout,
    )
    provider = provider or build_provider(settings, database)
    contract = load_contract()
    # A transport per worker: each keeps its own SMTP connection (one send at a time on it),
    # so that more workers send more mail at once.
    transports = [transport_for(settings) for _ in range(settings.outbox_workers)]
    workers = [
        OutboxWorker.from_settings(settings, database, transport) for transport in transports
    ]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await migrate(database)
        await provider.start()
        for worker in workers:
            await worker.start()
        # Everything alive now (modules, the app, the provider) lives as long as the process:
        # moved out of the collector's sight, full collections no longer walk it on the
        # request path (about 0.1 s each here). Unfrozen at shutdown, so that processes
        # running several apps in turn (the tests) collect what each one left behind.
        gc.freeze()
        logger.info(
            "auth-backend ready: provider=%s store=%s mail=%s",
            provider.name,
            settings.database_url_for_logs,
            settings.mail_destination_for_logs,
        )
        try:
            yield
        finally:
            gc.unfreeze()
            # Sends in flight may finish; a row abandoned here is sent again after its lease.
            for worker in workers:
                await worker.stop(grace=OUTBOX_STOP_GRACE_SECONDS)
            for transport in transports:
                await transport.aclose()
            await throttle.aclose()
            await provider.aclose()
            await database.aclose()
            logger.info("auth-backend stopped: provider connections closed")

    app = FastAPI(
        title=contract["info"]["title"],
        version=contract["info"]["version"],
        lifespan=lifespan,
        openapi_url=docs_routes.OPENAPI_URL,
        # The documentation pages are our own (docs_routes): FastAPI's load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    throttle = Throttle(
        storage_for(settings.redis_url, settings.redis_timeout),
        {rule: settings.rate_limit(rule) for rule in Rule},
        ipv6_prefix=settings.throttle_ipv6_prefix,
        timeout=settings.redis_timeout,
        probe_interval=settings.redis_probe_interval,
    )
    app.state.provider = provider
    app.state.throttle = throttle
    app.state.settings = settings
    emails = EmailFlows(
        provider,
        throttle,
        database,
        MailTemplates(settings.mail_templates_dir, settings.app_name),
        EmailFlowSettings(
            link_base=str(settings.email_link_base),
            recovery_ttl=settings.recovery_code_ttl,
            verification_ttl=settings.verification_code_ttl,
            max_attempts=settings.code_max_attempts,
        ),
        request_floor=FailureFloor(settings.email_request_min_seconds),
        rejection_floor=FailureFloor(settings.login_failure_min_seconds),
        mail_queued=lambda: _wake(workers),
    )
    app.state.auth = AuthService(
        provider,
        throttle,
        FailureFloor(settings.login_failure_min_seconds),
        emails,
        email_confirmation_required=settings.email_confirmation == "required",
    )
    app.state.outbox_workers = workers
    app.state.me_bodies = RenderedBodies()
    # Serve the hand-written contract, not one derived from the routes.
    app.openapi = lambda: contract  # type: ignore[method-assign]

    # Handlers that take the request and return a Response are called without FastAPI's
    # per-request dependency machinery (api/routing.py).
    app.router.route_class = OperationRoute
    operations.register(app, contract)
    docs_routes.register(app, contract["info"]["title"])
    # The request path of every other service (/me) and of every probe (/health).
    hot_paths_first(app.router, ("/me", "/health"))
    install_problem_handlers(app)
    if settings.cors_origins:
        # Off unless origins are listed: browsers then may call us with a bearer token, never
        # with cookies (we set none), and may read the request id.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    # Added last = outermost: the request id exists before anything else can fail.
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(
        RequestContextMiddleware, routes=[getattr(route, "path", "") for route in app.routes]
    )
    return app


def _wake(workers: list[OutboxWorker]) -> None:
    for worker in workers:
        worker.wake()


def __getattr__(name: str) -> Any:
    # `uvicorn auth_backend.main:app` works without building an app at import time.
    if name == "app":
        return create_app()
    raise AttributeError(name)
