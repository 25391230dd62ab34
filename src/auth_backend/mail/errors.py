"""How a transport says a mail was not delivered."""

from __future__ import annotations


class MailDeliveryFailed(Exception):
    """A send failed. `reason` is short and safe to store and log: the error's class and the
    server's reply code and text, never the message's body, code or link. `permanent`: this
    mail can never be delivered as it is (a recipient refused with 5xx), so retrying is
    pointless; everything else (connection, timeouts, TLS, credentials) may heal and is
    retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
