"""Who may call an operation. `caller(request)` is the one way to get the current user; every
guard is built on it and named in the operation's entry in operations.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from auth_backend.api.state import service_of
from auth_backend.domain import Caller

Guard = Callable[[Request], Awaitable[Caller]]


async def caller(request: Request) -> Caller:
    """The verified caller of this request; 401 `invalid_token` otherwise."""
    return await service_of(request).caller(request.headers.get("authorization"))


# Any signed-in user. (Guards that ask for more, such as an admin role or a second factor,
# call `caller` and check its claims.)
authenticated: Guard = caller
