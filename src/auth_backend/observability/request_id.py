"""The id of the request being served, for every log line written while serving it."""

from __future__ import annotations

from contextvars import ContextVar

# Each request runs in its own task, which copies the context, so concurrent requests never
# see each other's id.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
