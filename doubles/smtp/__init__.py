"""A real SMTP server for the tests: aiosmtpd in a separate process on loopback, with STARTTLS
and AUTH required, writing each message it accepts as a file the tests read. See README.md."""

from .certificate import Certificate, make_certificate
from .runner import SmtpServer

__all__ = ["Certificate", "SmtpServer", "make_certificate"]
