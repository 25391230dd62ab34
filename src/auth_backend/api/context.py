"""What handlers take from the app and the request: the provider, the throttle, the caller."""

from __future__ import annotations

from fastapi import Request

from auth_backend.api.client_ip import client_ip
from auth_backend.api.rendered import RenderedBodies
from auth_backend.domain import ClientContext
from auth_backend.providers.base import IdentityProvider
from auth_backend.security.throttling import Throttle
from auth_backend.settings import Settings


def provider_of(request: Request) -> IdentityProvider:
    provider: IdentityProvider = request.app.state.provider
    return provider


def throttle_of(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


def me_bodies_of(request: Request) -> RenderedBodies:
    bodies: RenderedBodies = request.app.state.me_bodies
    return bodies


def client_context(request: Request) -> ClientContext:
    settings: Settings = request.app.state.settings
    return ClientContext(
        ip=client_ip(request, settings.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
    )
