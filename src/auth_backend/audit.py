"""Audit events: one structured log line per security-relevant outcome.

Lines go to the `auth_backend.audit` logger with the event's fields in `extra["audit"]`, so a
JSON formatter can emit them as fields. Callers pass identifiers only: never a password, a
token or a key.
"""

from __future__ import annotations

import logging
from typing import Any

from auth_backend.observability.request_id import current_request_id

logger = logging.getLogger("auth_backend.audit")


def audit(event: str, *, ip: str | None, user_id: str | None = None, **fields: Any) -> None:
    record = {
        "event": event,
        "user_id": user_id,
        "ip": ip,
        "request_id": current_request_id.get(),
        **fields,
    }
    if not logger.isEnabledFor(logging.INFO):
        return
    rendered = " ".join(f"{key}={value}" for key, value in record.items() if value is not None)
    # makeRecord + handle is logger.info without the stack walk that finds the caller's file
    # and line, which no formatter here prints.
    logger.handle(
        logger.makeRecord(
            logger.name,
            logging.INFO,
            __file__,
            0,
            "audit %s",
            (rendered,),
            None,
            extra={"audit": record},
        )
    )
