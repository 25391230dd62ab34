"""Each step of the mailed-code flows leaves an audit event and moves a metric: requested,
sent, rejected, confirmed; and a failed send is recorded as failed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from auth_backend.observability.metrics import render
from tests.integration.conftest import MailingService
from tests.support.accounts import new_session, unique_email
from tests.support.mail import mailed_code
from tests.support.observability import metric_sample


def audit_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.__dict__["audit"] for r in caplog.records if r.name == "auth_backend.audit"]


def steps(flow: str, step: str) -> float:
    return metric_sample(
        render().decode(), "auth_backend_email_flow_steps_total", flow=flow, step=step
    )


async def test_every_step_of_a_recovery_is_audited_and_counted(
    mailing_service: MailingService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="auth_backend.audit")
    client = mailing_service.client
    email = unique_email("events")
    await new_session(client, email)
    before = {step: steps("recovery", step) for step in ("requested", "rejected", "confirmed")}
    sent_before = metric_sample(render().decode(), "auth_backend_mail_sent_total", kind="recovery")

    assert (await client.post("/recover", json={"email": email})).status_code == 202
    mail = mailed_code(await mailing_service.smtp.wait_for(email))
    wrong = {"email": email, "code": f"{(int(mail.code) + 1) % 10**6:06d}", "password": "x" * 12}
    assert (await client.post("/recover/confirm", json=wrong)).status_code == 400
    right = {"token": mail.token, "password": "a brand new horse battery"}
    assert (await client.post("/recover/confirm", json=right)).status_code == 200
    for _ in range(20):  # the worker records the send just after the server took it
        if any(event["event"] == "mail_sent" for event in audit_events(caplog)):
            break
        await asyncio.sleep(0.1)

    events = audit_events(caplog)
    names = [event["event"] for event in events]
    for name in ("recovery_requested", "mail_sent", "recovery_code_rejected", "recovery_completed"):
        assert name in names, names
    requested = next(e for e in events if e["event"] == "recovery_requested")
    assert requested["mailed"] is True and requested["email"] == email
    assert all(mail.code not in repr(event) and mail.token not in repr(event) for event in events)
    after = {step: steps("recovery", step) for step in ("requested", "rejected", "confirmed")}
    assert {step: after[step] - before[step] for step in after} == {
        "requested": 1,
        "rejected": 1,
        "confirmed": 1,
    }
    sent_after = metric_sample(render().decode(), "auth_backend_mail_sent_total", kind="recovery")
    assert sent_after - sent_before == 1


async def test_a_failed_send_is_audited_as_failed(
    mailing_service: MailingService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="auth_backend.audit")
    client = mailing_service.client
    email = unique_email("refused")
    await new_session(client, email)
    mailing_service.smtp.restart(password="not the service's password")
    assert (await client.post("/recover", json={"email": email})).status_code == 202
    for _ in range(50):
        failed = [e for e in audit_events(caplog) if e["event"] == "mail_failed"]
        if failed:
            break
        await asyncio.sleep(0.1)
    assert failed, "no mail_failed event"
    assert failed[0]["final"] is False
    assert "535" in failed[0]["reason"] or "auth" in failed[0]["reason"].lower()
