"""The embedded identity provider: users in our own database, tokens signed with our own keys.

One module per aggregate: `users` (accounts), `sessions` (sessions, refresh-token rotation and
its reuse rule), `revocations` (ended sessions known to every replica), `keys` (the signing
keys); their SQL runs through `auth_backend.store`, which declares the tables and migrates
them.
"""

from auth_backend.providers.local.provider import LocalProvider
from auth_backend.providers.local.sessions import SessionPolicy

__all__ = ["LocalProvider", "SessionPolicy"]
