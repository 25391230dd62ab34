"""Logs, metrics and the request context they share.

Providers report their calls with the `provider_call` context manager, so that every
provider shows up in the same metrics.
"""

from auth_backend.observability.metrics import provider_call

__all__ = ["provider_call"]
