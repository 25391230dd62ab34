"""The outbox's worker: claims due mail, sends it, settles each row.

Any replica may run workers against the same outbox; the claim's lease keeps two of them off
one row, and a worker that dies mid-send leaves its rows to be claimed again when the lease
runs out. Delivery is therefore at least once: a send the server accepted whose row could not
be settled (the database went away at that moment) is sent again after the lease, with the
same Message-ID.

What is logged: the row id, its kind, the attempt and the failure's reason. Never a body, a
code or a link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from auth_backend.audit import audit
from auth_backend.errors import ProviderUnavailable
from auth_backend.mail.errors import MailDeliveryFailed
from auth_backend.mail.messages import compose, message_id
from auth_backend.mail.outbox import (
    ClaimedMail,
    claim_due,
    mark_all_sent,
    mark_failed_attempt,
    outbox_stats,
)
from auth_backend.mail.transports import Transport, transport_for
from auth_backend.observability import metrics
from auth_backend.store.database import Database

if TYPE_CHECKING:
    from auth_backend.settings import Settings

logger = logging.getLogger(__name__)

# Rows claimed per round trip to the database, then sent one after the other over the
# transport's one connection and settled together.
DEFAULT_BATCH_SIZE = 5
# A send is bounded as a whole, not only per SMTP command: connect, STARTTLS, AUTH, MAIL,
# RCPT and DATA each get SMTP_TIMEOUT from aiosmtplib, but a server that answers every
# command just in time must not hold a row past its lease.
SEND_TIMEOUT_PER_SMTP_TIMEOUT = 3
# The lease covers a batch's sends, each within its bound, plus settling the rows afterwards
# (a database operation is bounded by DATABASE_CONNECT_TIMEOUT + DATABASE_STATEMENT_TIMEOUT).
LEASE_MARGIN_SECONDS = 30.0
# While a backlog drains, how often the depth and oldest-unsent gauges are refreshed.
GAUGE_INTERVAL_SECONDS = 1.0
# Not for secrets: spreads retries so that rows failed together are not retried together.
_jitter = random.SystemRandom()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OutboxWorker:
    def __init__(
        self,
        database: Database,
        transport: Transport,
        *,
        mail_from: str,
        max_attempts: int,
        retry_base: float,
        retry_max: float,
        poll_interval: float,
        lease_seconds: float,
        send_timeout: float | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_rate: float = 0.0,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        """`send_timeout` bounds one send as a whole (default: half the lease over the batch);
        the lease must exceed a whole batch of them, or a slow batch could be claimed and
        repeated by another worker."""
        if send_timeout is None:
            send_timeout = lease_seconds / (2 * batch_size)
        if not 0 < send_timeout * batch_size < lease_seconds:
            raise ValueError("the lease must be longer than a batch of send timeouts")
        if max_attempts < 1 or batch_size < 1:
            raise ValueError("max_attempts and batch_size must be at least 1")
        self._database = database
        self._transport = transport
        self._mail_from = mail_from
        self._max_attempts = max_attempts
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._poll_interval = poll_interval
        self._lease = timedelta(seconds=lease_seconds)
        self._send_timeout = send_timeout
        self._batch_size = batch_size
        # Seconds between two sends (0: as fast as the server takes them). A backlog is
        # drained at this pace so that sending it leaves the process's CPU to its requests
        # (bench/RESULTS.md) and stays within an SMTP provider's sending rate.
        self._send_interval = 1.0 / max_rate if max_rate > 0 else 0.0
        self._next_send = 0.0
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, database: Database, transport: Transport | None = None
    ) -> OutboxWorker:
        """A worker configured by the OUTBOX_* and SMTP_* settings; the transport is
        `transport_for(settings)` unless one is given (share one between workers)."""
        send_timeout = SEND_TIMEOUT_PER_SMTP_TIMEOUT * settings.smtp_timeout
        return cls(
            database,
            transport if transport is not None else transport_for(settings),
            mail_from=settings.mail_from,
            max_attempts=settings.outbox_max_attempts,
            retry_base=settings.outbox_retry_base,
            retry_max=settings.outbox_retry_max,
            poll_interval=settings.outbox_poll_interval,
            lease_seconds=DEFAULT_BATCH_SIZE * send_timeout + LEASE_MARGIN_SECONDS,
            send_timeout=send_timeout,
            max_rate=settings.outbox_max_rate,
        )

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    def wake(self) -> None:
        """Look at the outbox now instead of at the next poll: call it after the transaction
        that enqueued a mail has committed."""
        self._wakeup.set()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop the loop. In-flight sends get `grace` seconds to finish and be settled; any
        still running then are abandoned, and their rows are due again when the lease runs
        out, so nothing is lost."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wakeup.set()
        if grace > 0:
            await asyncio.wait({task}, timeout=grace)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                # A full batch means more may be due: keep going before sleeping, and keep the
                # backlog gauges current while a backlog drains (about once a second).
                refreshed = asyncio.get_running_loop().time()
                while not self._stopping:
                    claimed, _sent = await self._round()
                    if claimed < self._batch_size:
                        break
                    if asyncio.get_running_loop().time() - refreshed >= GAUGE_INTERVAL_SECONDS:
                        await self.refresh_gauges()
                        refreshed = asyncio.get_running_loop().time()
                await self.refresh_gauges()
            except ProviderUnavailable:
                # store/database.py has logged the cause; wait a poll interval and retry.
                logger.warning("outbox worker: the database is unavailable; retrying")
            except Exception:
                # A bug must not end the worker for good: mail would silently stop.
                logger.exception("outbox worker: the round failed; retrying")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wakeup.wait()

    # --- one round ---------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim one batch of due mail, send and settle each; returns how many were sent."""
        _claimed, sent = await self._round()
        return sent

    async def _round(self) -> tuple[int, int]:
        """(rows claimed, mails sent) of one batch: the batch's mails go out one after the
        other over the transport's one connection, and those sent are settled together."""
        claimed = await self._database.write_exclusive(
            claim_due, self._clock(), self._lease, self._batch_size
        )
        if not claimed:
            return 0, 0
        sent = []
        for mail in claimed:
            await self._pace()
            if await self._deliver(mail):
                sent.append(mail)
        if sent:
            await self._settle_sent(sent)
        return len(claimed), len(sent)

    async def _pace(self) -> None:
        if not self._send_interval:
            return
        now = asyncio.get_running_loop().time()
        if self._next_send > now:
            await asyncio.sleep(self._next_send - now)
        self._next_send = max(now, self._next_send) + self._send_interval

    async def _settle_sent(self, sent: list[ClaimedMail]) -> None:
        try:
            settled = set(
                await self._database.write(mark_all_sent, [mail.id for mail in sent], self._clock())
            )
        except Exception as error:
            # The database went away after the server took the mail: the lease brings the
            # rows back, and they are sent again (at least once, with the same Message-ID).
            logger.warning(
                "outbox: %d sent mails could not be recorded (%s); they are due again when "
                "their lease ends",
                len(sent),
                type(error).__name__,
            )
            return
        for mail in sent:
            metrics.count_mail_sent(mail.kind)
            audit(
                "mail_sent", ip=None, outbox_id=mail.id, kind=mail.kind, attempt=mail.attempts + 1
            )
            logger.info(
                "outbox mail %d (%s) sent on attempt %d", mail.id, mail.kind, mail.attempts + 1
            )
            if mail.id not in settled:
                logger.warning("outbox mail %d was settled by another worker", mail.id)

    async def refresh_gauges(self) -> None:
        depth, oldest = await self._database.read(outbox_stats, self._clock())
        metrics.set_outbox_backlog(depth, oldest)

    async def _deliver(self, mail: ClaimedMail) -> bool:
        """Send one claimed row; True when it was sent (settled by the caller), a failure is
        recorded here. Never raises but CancelledError: one row's trouble must not stop the
        others."""
        attempt = mail.attempts + 1
        try:
            failure = await self._send(mail)
            if failure is None:
                return True
            await self._record_failure(mail, attempt, failure)
        except Exception as error:
            # Recording failed (the database went away): the lease brings the row back.
            logger.warning(
                "outbox mail %d (%s) attempt %d: could not record the outcome (%s); the row "
                "is due again when its lease ends",
                mail.id,
                mail.kind,
                attempt,
                type(error).__name__,
            )
        return False

    async def _send(self, mail: ClaimedMail) -> MailDeliveryFailed | None:
        try:
            message = compose(
                mail_from=self._mail_from,
                recipient=mail.recipient,
                subject=mail.subject,
                text=mail.body_text,
                html=mail.body_html,
                msg_id=message_id(mail.id, mail.created_at, self._mail_from),
                date=self._clock(),
            )
        except (ValueError, TypeError) as error:
            # A stored header that cannot be one (a line break): no retry will change it.
            return MailDeliveryFailed(
                f"{type(error).__name__}: the stored mail cannot be composed", permanent=True
            )
        try:
            async with asyncio.timeout(self._send_timeout):
                await self._transport.send(message)
        except MailDeliveryFailed as failure:
            return failure
        except TimeoutError:
            return MailDeliveryFailed(f"TimeoutError: no delivery within {self._send_timeout} s")
        except Exception as error:
            # A transport that broke its contract: its message may quote anything, so only
            # the class is kept. Retried: the mail is not at fault.
            return MailDeliveryFailed(f"{type(error).__name__} from the transport")
        return None

    async def _record_failure(
        self, mail: ClaimedMail, attempt: int, failure: MailDeliveryFailed
    ) -> None:
        now = self._clock()
        final = failure.permanent or attempt >= self._max_attempts
        delay = None if final else self.retry_delay(attempt)
        next_attempt_at = None if delay is None else now + timedelta(seconds=delay)
        await self._database.write(
            mark_failed_attempt, mail.id, now, failure.reason, next_attempt_at
        )
        metrics.count_mail_failed(mail.kind, final=final)
        audit(
            "mail_failed",
            ip=None,
            outbox_id=mail.id,
            kind=mail.kind,
            attempt=attempt,
            final=final,
            reason=failure.reason,
        )
        if delay is None:
            logger.error(
                "outbox mail %d (%s) given up after attempt %d (%s): %s",
                mail.id,
                mail.kind,
                attempt,
                "refused for good" if failure.permanent else "no attempts left",
                failure.reason,
            )
        else:
            logger.warning(
                "outbox mail %d (%s) attempt %d failed: %s; next attempt in %.1f s",
                mail.id,
                mail.kind,
                attempt,
                failure.reason,
                delay,
            )

    def retry_delay(self, attempt: int) -> float:
        """Seconds before the attempt after `attempt` (1-based): doubling from the base, at
        most the maximum, less up to a fifth at random."""
        delay: float = min(self._retry_max, self._retry_base * 2.0 ** min(attempt - 1, 60))
        return delay * _jitter.uniform(0.8, 1.0)
