"""The `mail` phase: account recovery and the outbox under load (`--only mail`).

Three measurements, each against a comparison made in the same run:

1. `POST /recover` for a known and for an unknown address, compared like every other pair of
   contenders (alternating rounds, server on CPU 0, wrk on CPU 1): the p50s must be within
   10 % of each other, i.e. the timing floor holds under load. The known branch queues a mail
   that the replica's worker sends to the sink during the run, as it would in production.
2. The outbox's delivery rate from one replica with one worker, unpaced (`OUTBOX_MAX_RATE=0`):
   the outbox is filled while no worker sends (`OUTBOX_WORKERS=0`,
   `EMAIL_REQUEST_MIN_SECONDS=0`), then a replica with one worker starts on the same database
   and the sent counter (`/metrics`) is sampled until every mail left. Nothing else runs
   against it.
3. `GET /me` while a backlog drains at the worker's default pace (`OUTBOX_MAX_RATE`, 50 mails
   a second) ÷ `GET /me` on the same replica once it is empty,
   in the order drain-on, idle, idle, drain-on (the second drain on a refilled outbox). A
   drain-on run counts only if mail was still being sent when it ended.

The SMTP sink is aiosmtpd's `Sink` handler (it accepts and drops every message), pinned to
CPU 1 with wrk, so that the replica's core is the replica's alone, as with a real mail server.

`auth_backend_outbox_depth` is not used to follow a drain: the worker refreshes it only when
a round claims less than a full batch, i.e. once the backlog is gone (and it reads 0 before
the first round), so the sent counter is what is polled.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from auth_backend.settings import Settings
from bench.loadgen import run_wrk, taskset
from bench.procs import Server, free_port
from bench.suite import SERVER_CPUS, WRK_CPUS, BenchUser, Suite, prepare_user, stopping

_SENT = re.compile(r'^auth_backend_mail_sent_total\{kind="recovery"\} ([0-9.e+]+)$', re.M)
_FAILED = re.compile(
    r'^auth_backend_mail_failed_total\{[^}]*kind="recovery"[^}]*\} ([0-9.e+]+)$', re.M
)
_DEPTH = re.compile(r"^auth_backend_outbox_depth ([0-9.e+]+)$", re.M)
# The pace a worker sends a backlog at unless configured otherwise.
DEFAULT_MAX_RATE = float(Settings.model_fields["outbox_max_rate"].default)
# Seconds between two looks at the sent counter while a backlog drains.
SAMPLE_INTERVAL = 0.2
# Mails in the pilot drain that sizes the real backlog.
PILOT_MAILS = 150
# The backlog lasts at least this long at the unloaded rate (the slower drain under load lasts
# longer), and covers a drain-on /me run (warm-up + measured run) with this margin.
MIN_DRAIN_SECONDS = 15.0
DRAIN_MARGIN_SECONDS = 6.0
SMOKE_MAILS = 20
FILL_CONCURRENCY = 16
JSON_HEADER = "Content-Type: application/json"


class SmtpSink:
    """`python -m aiosmtpd -n -c aiosmtpd.handlers.Sink -l 127.0.0.1:<port>`."""

    def __init__(self, python: str, cpus: str | None) -> None:
        self.port = free_port()
        self.argv = [
            *taskset(cpus),
            python,
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Sink",
            "-l",
            f"127.0.0.1:{self.port}",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=none"

    def __enter__(self) -> SmtpSink:
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                _, err = self.process.communicate()
                raise RuntimeError(f"the SMTP sink exited: {err.decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("the SMTP sink did not listen within 30 s")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass(frozen=True)
class MailMetrics:
    sent: int
    failed: int
    depth: int


def mail_metrics(base_url: str) -> MailMetrics:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    sent, depth = _SENT.search(text), _DEPTH.search(text)
    failed = sum(float(value) for value in _FAILED.findall(text))
    return MailMetrics(
        sent=int(float(sent.group(1))) if sent else 0,
        failed=int(failed),
        depth=int(float(depth.group(1))) if depth else -1,
    )


@dataclass
class Drain:
    """The sent counter sampled while a backlog of `mails` drains."""

    mails: int
    samples: list[tuple[float, int]] = field(default_factory=list)

    def sample(self, base_url: str) -> int:
        sent = mail_metrics(base_url).sent
        self.samples.append((time.monotonic(), sent))
        return sent

    def wait(self, base_url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.sample(base_url) < self.mails:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the outbox did not drain within {timeout:.0f} s: "
                    f"{self.samples[-1][1]} of {self.mails} sent"
                )
            time.sleep(SAMPLE_INTERVAL)

    def rate(self) -> dict[str, Any]:
        """Mails per second from the first sample to the first that saw all of them sent
        (mails sent before the first sample, during start-up, are left out of both)."""
        if not self.samples:
            return {"mails": self.mails}
        first_t, first_sent = self.samples[0]
        end_t = next((t for t, sent in self.samples if sent >= self.mails), self.samples[-1][0])
        seconds = end_t - first_t
        counted = self.mails - first_sent
        return {
            "mails": self.mails,
            "counted": counted,
            "seconds": round(seconds, 2),
            "per_s": round(counted / seconds, 1) if seconds > 0 and counted > 0 else None,
        }


async def _post_many(base_url: str, body: dict[str, str], count: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    semaphore = asyncio.Semaphore(FILL_CONCURRENCY)
    limits = httpx.Limits(max_connections=FILL_CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def one() -> None:
            async with semaphore:
                response = await client.post("/recover", json=body)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(one() for _ in range(count)))
    return statuses


class MailPhase:
    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.config = suite.config
        self.values: dict[str, Any] = suite.run.values.setdefault("mail", {})
        self.database = "mail-outbox"
        self.user: BenchUser | None = None

    def run(self) -> None:
        with SmtpSink(self.config.project_python, WRK_CPUS) as sink:
            self.suite.note(f"taskset -c {WRK_CPUS} python {' '.join(sink.argv[4:])}")
            self.recover(sink)
            self.outbox(sink)

    # --- 1. known vs unknown ---------------------------------------------------------------

    def recover(self, sink: SmtpSink) -> None:
        service = self.suite.start_service("mail-recover", cpus=SERVER_CPUS, SMTP_URL=sink.url)
        with stopping(service):
            user = prepare_user(service.base_url, many=0)
            unknown = f"nobody-{time.monotonic_ns()}@example.com"
            known_body = json.dumps({"email": user.email})
            unknown_body = json.dumps({"email": unknown})
            options: dict[str, Any] = {"cpus": WRK_CPUS, "method": "POST", "headers": [JSON_HEADER]}
            self.suite.compare(
                [
                    (
                        "mail.recover_known",
                        f"{service.base_url}/recover",
                        {**options, "body": known_body},
                    ),
                    (
                        "mail.recover_unknown",
                        f"{service.base_url}/recover",
                        {**options, "body": unknown_body},
                    ),
                ]
            )
            self.recover_together(service, known_body, unknown_body, options)
            after = mail_metrics(service.base_url)
            self.values["recover"] = {
                "mails_sent_during_runs": after.sent,
                "mails_failed": after.failed,
                "known_requests": self.suite.run.wrk["mail.recover_known"].requests,
            }

    def recover_together(
        self, service: Server, known_body: str, unknown_body: str, options: dict[str, Any]
    ) -> None:
        """Information: the two addresses at once, half the connections each, so that both
        see the same load (and the same timing floor) at every moment, as an attacker
        interleaving them would; the comparison above runs them one after the other."""
        half = {**options, "connections": max(self.config.connections // 2, 1)}
        with ThreadPoolExecutor(2) as pool:
            for _ in range(self.config.rounds):
                runs = [
                    pool.submit(
                        self.suite.wrk_once,
                        name,
                        f"{service.base_url}/recover",
                        **half,
                        body=body,
                    )
                    for name, body in (
                        ("mail.recover_known_together", known_body),
                        ("mail.recover_unknown_together", unknown_body),
                    )
                ]
                for future in runs:
                    future.result()

    # --- 2. and 3. the outbox's drain, and /me during it -----------------------------------

    def fill(self, count: int) -> None:
        """Queue `count` recovery mails with no worker running, then stop that replica."""
        service = self.suite.start_service(
            "mail-fill",
            database=self.database,
            OUTBOX_WORKERS="0",
            EMAIL_REQUEST_MIN_SECONDS="0",
        )
        with stopping(service):
            if self.user is None:
                self.user = prepare_user(service.base_url, many=0)
            started = time.monotonic()
            statuses = asyncio.run(_post_many(service.base_url, {"email": self.user.email}, count))
            seconds = time.monotonic() - started
        if statuses != {202: count}:
            raise RuntimeError(f"filling the outbox: statuses {statuses} for {count} requests")
        self.values.setdefault("fills", []).append(
            {"mails": count, "seconds": round(seconds, 2), "per_s": round(count / seconds, 1)}
        )

    def drainer(self, sink: SmtpSink, name: str, **extra: str) -> Server:
        return self.suite.start_service(
            name,
            cpus=SERVER_CPUS,
            database=self.database,
            SMTP_URL=sink.url,
            OUTBOX_WORKERS="1",
            **extra,
        )

    def drain_alone(self, sink: SmtpSink, mails: int, name: str) -> dict[str, Any]:
        """Fill `mails`, start a replica with one worker and follow the drain, no other load:
        the worker's capacity, so with no rate limit (OUTBOX_MAX_RATE=0)."""
        self.fill(mails)
        with stopping(self.drainer(sink, name, OUTBOX_MAX_RATE="0")) as service:
            drain = Drain(mails)
            cpu_before = service.cpu_seconds()
            drain.sample(service.base_url)
            drain.wait(service.base_url, timeout=max(120.0, mails / 5))
            cpu = service.cpu_seconds() - cpu_before
            final = mail_metrics(service.base_url)
        rate = drain.rate()
        # Where a mail's time goes: the replica's CPU per mail, and how much of its one core
        # it used (near 1: CPU-bound; well below: waiting on the sink or the disk).
        counted, seconds = rate.get("counted") or 0, rate.get("seconds") or 0
        return rate | {
            "failed": final.failed,
            "depth_after": final.depth,
            "cpu_ms_per_mail": round(cpu / counted * 1000, 2) if counted > 0 else None,
            "cores_used": round(cpu / seconds, 2) if seconds > 0 else None,
        }

    def outbox(self, sink: SmtpSink) -> None:
        if self.config.smoke:
            mails = SMOKE_MAILS
        else:
            pilot = self.drain_alone(sink, PILOT_MAILS, "mail-pilot")
            self.values["pilot"] = pilot
            per_s = pilot.get("per_s") or 10.0
            window = max(MIN_DRAIN_SECONDS, self.config.warmup + self.config.seconds)
            mails = math.ceil(per_s * (window + DRAIN_MARGIN_SECONDS) / 10) * 10
            self.values["drain"] = self.drain_alone(sink, mails, "mail-drain")
            # /me runs beside a worker at its default pace (OUTBOX_MAX_RATE): a backlog that
            # lasts the drain-on run at that pace.
            mails = math.ceil(DEFAULT_MAX_RATE * (window + DRAIN_MARGIN_SECONDS) / 10) * 10
        self.values["backlog_mails"] = mails
        self.values["max_rate"] = DEFAULT_MAX_RATE
        self.me_while_draining(sink, mails)

    def me_while_draining(self, sink: SmtpSink, mails: int) -> None:
        """drain-on, idle (, idle, drain-on on a refilled outbox): `GET /me` on the draining
        replica itself, server on CPU 0 and wrk on CPU 1 as for the /me rows."""
        token_file = self.config.workdir / "mail-token.txt"
        runs: list[dict[str, Any]] = []
        order = ["draining", "idle"] if self.config.rounds < 2 else ["draining", "idle", "idle"]
        self.fill(mails)
        assert self.user is not None
        token_file.write_text(self.user.token + "\n")
        options: dict[str, Any] = {"cpus": WRK_CPUS, "tokens_file": token_file}
        with stopping(self.drainer(sink, "mail-me-1")) as service:
            drain = Drain(mails)
            for state in order:
                runs.append(self._me_run(service, state, drain, options))
                if state == "draining":
                    drain.wait(service.base_url, timeout=max(120.0, mails / 5))
            self.values.setdefault("loaded_drains", []).append(drain.rate())
        if self.config.rounds >= 2:
            self.fill(mails)
            with stopping(self.drainer(sink, "mail-me-2")) as service:
                drain = Drain(mails)
                runs.append(self._me_run(service, "draining", drain, options))
                drain.wait(service.base_url, timeout=max(120.0, mails / 5))
                self.values.setdefault("loaded_drains", []).append(drain.rate())
        self.values["me_runs"] = runs
        self.values["me_drain_valid"] = all(
            run["still_draining_at_end"] for run in runs if run["state"] == "draining"
        )

    def _me_run(
        self, service: Server, state: str, drain: Drain, options: dict[str, Any]
    ) -> dict[str, Any]:
        url = f"{service.base_url}/me"
        name = "mail.me_draining" if state == "draining" else "mail.me_idle"
        if self.config.warmup > 0:
            run_wrk(url, seconds=self.config.warmup, connections=self.config.connections, **options)
        before = drain.sample(service.base_url)
        started = time.monotonic()
        result = self.suite.wrk_once(name, url, **options)
        seconds = time.monotonic() - started
        after = drain.sample(service.base_url)
        return {
            "state": state,
            "ok_rps": round(result.ok_rps, 1),
            "p50_ms": result.p50_ms,
            "sent_before": before,
            "sent_after": after,
            "backlog": drain.mails,
            "still_draining_at_end": after < drain.mails,
            "mails_per_s_during": round((after - before) / seconds, 1),
        }


def run(suite: Suite) -> None:
    MailPhase(suite).run()
