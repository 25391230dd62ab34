"""Prometheus metrics: HTTP traffic, operation outcomes, identity-provider calls and mail.

With several worker processes (WEB_CONCURRENCY > 1) each worker writes its samples to files
in PROMETHEUS_MULTIPROC_DIR, which `python -m auth_backend` creates before the workers start,
and a scrape of any worker adds up all of them. With one process the samples stay in memory
and the process, GC and platform collectors are exposed too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    exposition,
    gc_collector,
    multiprocess,
    platform_collector,
    process_collector,
)

from auth_backend.errors import ServiceError

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format (0.0.4) is what every Prometheus version scrapes.
CONTENT_TYPE = exposition.CONTENT_TYPE_PLAIN_0_0_4
OK = "ok"
SUCCESS = "success"
# Label values come from a closed set, so that odd requests cannot create new time series.
UNMATCHED_ROUTE = "<unmatched>"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# `_created` series double the output and no dashboard here uses them (multiprocess mode
# never has them), so neither mode does.
disable_created_metrics()  # type: ignore[no-untyped-call]
_REGISTRY = CollectorRegistry()

HTTP_REQUESTS = Counter(
    "auth_backend_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["method", "route", "status"],
    registry=_REGISTRY,
)
HTTP_DURATION = Histogram(
    "auth_backend_http_request_duration_seconds",
    "Time from receiving a request to finishing its response, by route template and method.",
    ["method", "route"],
    registry=_REGISTRY,
)
PROVIDER_CALLS = Counter(
    "auth_backend_provider_calls",
    "Calls into the identity provider, by outcome: ok, or the problem code it raised "
    "(provider_error, provider_unavailable, provider_misconfigured and internal_error are "
    "failures; invalid_credentials and the like are answers).",
    ["provider", "operation", "outcome"],
    registry=_REGISTRY,
)
PROVIDER_DURATION = Histogram(
    "auth_backend_provider_call_duration_seconds",
    "Time spent in identity provider calls.",
    ["provider", "operation"],
    registry=_REGISTRY,
)
# Set and counted by security/throttling.py when Redis stops answering: limits are then per
# replica, which an operator must know. livemax: with several workers, 1 if any live one is.
RATE_LIMIT_STORAGE_FALLBACK = Gauge(
    "auth_backend_rate_limit_storage_fallback",
    "1 while rate limits are kept in this process's memory because Redis does not answer.",
    registry=_REGISTRY,
    multiprocess_mode="livemax",
)
RATE_LIMIT_STORAGE_FALLBACKS = Counter(
    "auth_backend_rate_limit_storage_fallbacks",
    "Times rate limits fell back from Redis to per-process memory.",
    registry=_REGISTRY,
)
# Mailed-code flows (recovery, verification), step by step: requested, confirmed, rejected.
# Mail delivery (sent, failed) is counted by the outbox's worker (mail/worker.py).
EMAIL_FLOW_STEPS = Counter(
    "auth_backend_email_flow_steps",
    "Steps of the mailed-code flows, by flow (recovery, verification) and step "
    "(requested, confirmed, rejected).",
    ["flow", "step"],
    registry=_REGISTRY,
)

# Mail delivery, by the outbox's workers (mail/worker.py). `final`: "true" when the mail was
# given up (the last attempt, or a permanent refusal), "false" when it will be retried.
MAIL_SENT = Counter(
    "auth_backend_mail_sent",
    "Mails accepted by the mail transport (SMTP server or .eml folder), by kind.",
    ["kind"],
    registry=_REGISTRY,
)
MAIL_FAILED = Counter(
    "auth_backend_mail_failed",
    "Failed attempts at sending a mail, by kind and whether the mail was then given up.",
    ["kind", "final"],
    registry=_REGISTRY,
)
# Every replica's worker reads the same outbox, so each reports the same value: livemax
# shows it once across worker processes instead of adding the copies up.
OUTBOX_DEPTH = Gauge(
    "auth_backend_outbox_depth",
    "Mails waiting in the outbox (pending: not yet sent nor given up).",
    registry=_REGISTRY,
    multiprocess_mode="livemax",
)
OUTBOX_OLDEST_UNSENT = Gauge(
    "auth_backend_outbox_oldest_unsent_seconds",
    "Age of the oldest mail waiting in the outbox, in seconds (0 when none waits).",
    registry=_REGISTRY,
    multiprocess_mode="livemax",
)

# Exposed at 0 from the first scrape, so that rate() and alerts work before the first mail.
for _kind in ("recovery", "verification"):
    MAIL_SENT.labels(kind=_kind)
    MAIL_FAILED.labels(kind=_kind, final="true")
    MAIL_FAILED.labels(kind=_kind, final="false")

if os.environ.get(MULTIPROCESS_DIR_VARIABLE) is None:
    # Per-process views; in multiprocess mode they would describe only the scraped worker.
    process_collector.ProcessCollector(registry=_REGISTRY)
    platform_collector.PlatformCollector(registry=_REGISTRY)
    gc_collector.GCCollector(registry=_REGISTRY)


# Children by label values: a dict lookup is cheaper than .labels() on every request.
_http_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    children = _http_children.get(key)
    if children is None:
        method_label = method if method in _KNOWN_METHODS else "other"
        children = (
            HTTP_REQUESTS.labels(method_label, route, str(status)),
            HTTP_DURATION.labels(method_label, route),
        )
        _http_children[key] = children
    counter, histogram = children
    counter.inc()
    histogram.observe(seconds)


def outcome_of(error: BaseException) -> str:
    return error.code if isinstance(error, ServiceError) else "internal_error"


class OperationOutcomes:
    """A counter of how one operation's requests ended: success, or the problem code.

    Declared by the operation's entry in api/operations.py, so an outcome metric is one
    entry there. `preset` outcomes are exposed from the first scrape (at 0), so that rate()
    works before the first request.
    """

    def __init__(self, name: str, operation_id: str, preset: tuple[str, ...] = (SUCCESS,)) -> None:
        self._counter = Counter(
            f"auth_backend_{name}",
            f"{operation_id} outcomes: success, or the problem code that was returned.",
            ["result"],
            registry=_REGISTRY,
        )
        for outcome in preset:
            self._counter.labels(outcome)

    @contextmanager
    def count(self) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            self._counter.labels(outcome_of(error)).inc()
            raise
        self._counter.labels(SUCCESS).inc()


def record_provider_call(provider: str, operation: str, outcome: str, seconds: float) -> None:
    """Record one call into an identity provider.

    `outcome` is "ok" or the code of the problem the call raised; keep `operation` to the
    Protocol's method names (sign_up, sign_in, ...) so that the label set stays small.
    """
    PROVIDER_CALLS.labels(provider, operation, outcome).inc()
    PROVIDER_DURATION.labels(provider, operation).observe(seconds)


@contextmanager
def provider_call(provider: str, operation: str) -> Iterator[None]:
    """Time the enclosed provider call and record its outcome from what it raised."""
    started = time.perf_counter()
    try:
        yield
    except Exception as error:
        record_provider_call(provider, operation, outcome_of(error), time.perf_counter() - started)
        raise
    record_provider_call(provider, operation, OK, time.perf_counter() - started)


def count_email_flow_step(flow: str, step: str) -> None:
    EMAIL_FLOW_STEPS.labels(flow=flow, step=step).inc()


def count_mail_sent(kind: str) -> None:
    MAIL_SENT.labels(kind=kind).inc()


def count_mail_failed(kind: str, *, final: bool) -> None:
    MAIL_FAILED.labels(kind=kind, final="true" if final else "false").inc()


def set_outbox_backlog(depth: int, oldest_seconds: float) -> None:
    OUTBOX_DEPTH.set(depth)
    OUTBOX_OLDEST_UNSENT.set(oldest_seconds)


def render() -> bytes:
    """The current samples in the Prometheus text format, summed over all workers."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return exposition.generate_latest(registry)
    return exposition.generate_latest(_REGISTRY)


def prepare_multiprocess_dir(workers: int) -> Path | None:
    """Create and announce a private samples directory when several workers will run.

    Must run before the workers start: prometheus_client reads the variable when it is
    imported. Returns the directory to delete at exit, or None when there is nothing to
    clean up (one worker, or a directory the operator chose).
    """
    if workers <= 1 or os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        return None
    directory = Path(tempfile.mkdtemp(prefix="auth-backend-metrics-"))
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(directory)
    return directory


def remove_multiprocess_dir(directory: Path | None) -> None:
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
        os.environ.pop(MULTIPROCESS_DIR_VARIABLE, None)
