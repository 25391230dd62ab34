"""Mail: the outbox (durable, claimed by any replica), its worker, the transports (SMTP, or
.eml files for development) and the templates every provider's mail is rendered from."""

from auth_backend.mail.errors import MailDeliveryFailed
from auth_backend.mail.messages import MailKind, OutgoingMail
from auth_backend.mail.outbox import enqueue
from auth_backend.mail.templates import MailTemplates
from auth_backend.mail.transports import FileTransport, SmtpTransport, Transport, transport_for
from auth_backend.mail.worker import OutboxWorker

__all__ = [
    "FileTransport",
    "MailDeliveryFailed",
    "MailKind",
    "MailTemplates",
    "OutboxWorker",
    "OutgoingMail",
    "SmtpTransport",
    "Transport",
    "enqueue",
    "transport_for",
]
