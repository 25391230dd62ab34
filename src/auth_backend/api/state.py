"""What handlers take from the app and the request: the application service, the settings,
the `/me` bodies memo and the client's context."""

from __future__ import annotations

from fastapi import Request

from auth_backend.api.client_ip import client_ip
from auth_backend.api.me_bodies import RenderedBodies
from auth_backend.auth import AuthService
from auth_backend.domain import ClientContext
from auth_backend.settings import Settings


def service_of(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth
    return service


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def me_bodies_of(request: Request) -> RenderedBodies:
    bodies: RenderedBodies = request.app.state.me_bodies
    return bodies


def client_context(request: Request) -> ClientContext:
    return ClientContext(
        ip=client_ip(request, settings_of(request).trusted_proxies),
        user_agent=request.headers.get("user-agent"),
    )
