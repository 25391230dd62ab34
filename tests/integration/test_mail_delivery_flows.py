"""Mail that the flows queue survives an SMTP outage and is sent once by exactly one replica:
through HTTP, with the real SMTP server process stopped and restarted, and two replicas
sharing one PostgreSQL store."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from doubles.smtp import SmtpServer
from tests.integration.conftest import mail_settings
from tests.support.accounts import bearer, new_session, refused_within, unique_email
from tests.support.mail import mailed_code
from tests.support.postgres import PostgresServer
from tests.support.services import make_settings, running_app


async def test_mail_asked_for_while_smtp_is_down_arrives_when_it_is_back(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path / 'auth.db'}", **mail_settings(smtp_server)
    )
    async with running_app(settings) as (_app, client):
        email = unique_email("outage")
        await new_session(client, email)
        smtp_server.stop()
        response = await client.post("/recover", json={"email": email})
        # The user's answer does not depend on the mail server: the mail waits in the outbox.
        assert response.status_code == 202
        await asyncio.sleep(1.0)  # several failed attempts (retries every 0.2 to 0.5 s)
        smtp_server.start()
        message = await smtp_server.wait_for(email, timeout=15)
        mail = mailed_code(message)
        body = {"email": email, "code": mail.code, "password": "a brand new horse battery"}
        assert (await client.post("/recover/confirm", json=body)).status_code == 200
        await asyncio.sleep(0.5)
        assert len(smtp_server.messages_to(email)) == 1


@pytest.mark.postgres
async def test_two_replicas_send_each_mail_exactly_once(
    postgres_server: PostgresServer, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    async with postgres_server.database() as url:
        settings = make_settings(database_url=url, **mail_settings(smtp_server))
        async with (
            running_app(settings, client_ip="203.0.113.7") as (_one, first),
            running_app(settings, client_ip="203.0.113.8") as (_two, second),
        ):
            emails = [unique_email(f"replica{i}") for i in range(30)]
            for email in emails:
                await new_session(first, email)
            # Each request on either replica; both replicas' workers drain the one outbox.
            answers = await asyncio.gather(
                *(
                    (first if i % 2 else second).post("/recover", json={"email": email})
                    for i, email in enumerate(emails)
                )
            )
            assert {answer.status_code for answer in answers} == {202}
            await smtp_server.wait_for_count(len(emails), timeout=30)
            await asyncio.sleep(1.0)  # time for a duplicate to show up, were there one
    received = Counter(message["To"] for message in smtp_server.messages())
    assert received == Counter(emails)


@pytest.mark.postgres
async def test_a_recovery_ends_old_sessions_on_every_replica(
    postgres_server: PostgresServer, smtp_server: SmtpServer
) -> None:
    # Local provider: as after a global logout, the old access tokens are refused at once on
    # the replica that did the recovery and within about a second on the other one.
    async with postgres_server.database() as url:
        settings = make_settings(database_url=url, **mail_settings(smtp_server))
        async with (
            running_app(settings, client_ip="203.0.113.7") as (_one, first),
            running_app(settings, client_ip="203.0.113.8") as (_two, second),
        ):
            email = unique_email("replicas")
            old = await new_session(first, email)
            assert (await second.get("/me", headers=bearer(old))).status_code == 200
            assert (await first.post("/recover", json={"email": email})).status_code == 202
            mail = mailed_code(await smtp_server.wait_for(email))
            body = {"token": mail.token, "password": "a brand new horse battery"}
            confirmed = await first.post("/recover/confirm", json=body)
            assert confirmed.status_code == 200
            assert (await first.get("/me", headers=bearer(old))).status_code == 401
            assert await refused_within(second, old, seconds=3.0)
            # The new session works on both.
            new = confirmed.json()
            assert (await second.get("/me", headers=bearer(new))).status_code == 200
