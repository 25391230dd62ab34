"""The mail templates: what each kind says, HTML escaping, overrides by file name, and strict
variables."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from auth_backend.mail import MailTemplates
from auth_backend.mail.messages import MAIL_KINDS, MailKind
from auth_backend.mail.templates import expires_in_text

CODE = "482913"
LINK = "https://app.example.test/reset-password#token=abc123DEF"


@pytest.mark.parametrize("kind", MAIL_KINDS)
def test_each_kind_renders_text_and_html_with_everything_the_reader_needs(kind: MailKind) -> None:
    mail = MailTemplates(None, "Acme Cloud").render(
        kind, "ada@example.test", code=CODE, link=LINK, expires_in_seconds=600
    )
    assert (mail.kind, mail.recipient) == (kind, "ada@example.test")
    assert "Acme Cloud" in mail.subject
    assert "\n" not in mail.subject
    # The subject is kept after the row is settled: no code in it.
    assert CODE not in mail.subject
    for body in (mail.text, mail.html):
        assert CODE in body
        assert LINK in body
        assert "10 minutes" in body
        assert "Acme Cloud" in body
        assert "ada@example.test" in body
        assert "If you did not ask for this, ignore this mail" in body
    assert f'href="{LINK}"' in mail.html
    what = "password" if kind == "recovery" else "email address"
    assert what in mail.subject.lower()


def test_html_escapes_the_application_name_and_the_address_but_text_keeps_them() -> None:
    templates = MailTemplates(None, "<script>alert(1)</script>")
    mail = templates.render(
        "verification",
        'x"<script>@example.test',
        code=CODE,
        link=LINK,
        expires_in_seconds=86400,
    )
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
    assert "x&#34;&lt;script&gt;@example.test" in mail.html
    assert "<script>alert(1)</script>" in mail.text
    assert "24 hours" in mail.text


def test_an_override_folder_replaces_one_file_and_the_package_supplies_the_rest(
    tmp_path: Path,
) -> None:
    (tmp_path / "recovery.subject.txt").write_text("{{ app_name }}: reset\nyour password\n")
    (tmp_path / "recovery.txt").write_text("Code {{ code }}, {{ expires_in_minutes }} min.")
    mail = MailTemplates(str(tmp_path), "Acme").render(
        "recovery", "ada@example.test", code=CODE, link=LINK, expires_in_seconds=900
    )
    assert mail.subject == "Acme: reset your password"
    assert mail.text == f"Code {CODE}, 15 min."
    # recovery.html was not overridden: the packaged one.
    assert "If you did not ask for this, ignore this mail" in mail.html
    assert LINK in mail.html


def test_a_typo_in_an_override_fails_instead_of_mailing_a_blank(tmp_path: Path) -> None:
    (tmp_path / "verification.html").write_text("<p>Your code: {{ cdoe }}</p>")
    templates = MailTemplates(str(tmp_path), "Acme")
    with pytest.raises(jinja2.UndefinedError, match="cdoe"):
        templates.render(
            "verification", "ada@example.test", code=CODE, link=LINK, expires_in_seconds=600
        )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (60, "1 minute"),
        (600, "10 minutes"),
        (90, "1 minute"),
        (3600, "1 hour"),
        (86400, "24 hours"),
        (2 * 86400, "2 days"),
        (24 * 3600 * 7, "7 days"),
        (5400, "90 minutes"),
        (7200, "2 hours"),
    ],
)
def test_lifetimes_read_the_way_people_say_them(seconds: int, text: str) -> None:
    assert expires_in_text(seconds) == text
