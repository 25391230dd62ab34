"""Logs, metrics and the request context they share.

Providers report their calls with `record_provider_call` (or the `provider_call` context
manager), so that every provider shows up in the same metrics.
"""

from auth_backend.observability.metrics import provider_call, record_provider_call

__all__ = ["provider_call", "record_provider_call"]
