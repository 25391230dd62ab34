"""What `make dev` does with mail: with no SMTP_URL, a real `python -m auth_backend` process
writes each mail as an .eml file into ./data/mail, says so in its start-up line, and the code
in that file completes the flow. Nothing secret reaches its log."""

from __future__ import annotations

import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx

from tests.support.accounts import PASSWORD, unique_email
from tests.support.mail import mailed_code
from tests.support.services import LiveServer


def newest_mail_to(folder: Path, recipient: str, timeout: float = 10.0) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            if message["To"] == recipient:
                return message
        time.sleep(0.1)
    raise AssertionError(f"no .eml to {recipient} in {folder}")


def test_without_smtp_mail_lands_in_the_folder_the_start_up_line_names(
    live_server: LiveServer,
) -> None:
    folder = (live_server.log_path.parent / "data" / "mail").resolve()
    assert f"mail=files in {folder}" in live_server.log()
    email = unique_email("dev")
    with httpx.Client(base_url=live_server.base_url) as client:
        assert (
            client.post("/signup", json={"email": email, "password": PASSWORD}).status_code == 201
        )
        assert client.post("/recover", json={"email": email}).status_code == 202
        mail = mailed_code(newest_mail_to(folder, email))
        new_password = "a newcomer's new password"
        confirmed = client.post(
            "/recover/confirm", json={"token": mail.token, "password": new_password}
        )
        assert confirmed.status_code == 200, confirmed.text
        login = client.post("/login", json={"email": email, "password": new_password})
        assert login.status_code == 200
    assert mail.token not in live_server.log()
