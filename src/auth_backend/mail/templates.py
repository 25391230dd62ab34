"""The mail every provider sends, rendered from Jinja templates: the packaged ones in
`templates/`, each replaceable by a file of the same name in MAIL_TEMPLATES_DIR.

Per kind: `<kind>.subject.txt`, `<kind>.txt` and `<kind>.html`. Variables: `app_name`,
`email`, `code`, `link`, `expires_in_minutes` and `expires_in` ("10 minutes", "24 hours").
HTML is autoescaped (an application name or address is never markup); undefined variables
are errors, so a typo in an override fails the first render instead of mailing a blank.
"""

from __future__ import annotations

import jinja2

from auth_backend.mail.messages import MailKind, OutgoingMail

# The environment compiles each template once and caches it; rendering is then a few tens of
# microseconds, cheap enough for the event loop. Jinja's environment and templates are
# thread-safe, so a caller may also render on a thread.
_PACKAGE = "auth_backend.mail"
_PACKAGED_FOLDER = "templates"


def expires_in_text(seconds: int) -> str:
    """A lifetime as people say it: whole days from two days on ("24 hours" reads better than
    "1 day" for a deadline), else whole hours, else minutes (rounded down, so the mail never
    promises more time than the code has)."""
    if seconds >= 2 * 86400 and seconds % 86400 == 0:
        count, unit = seconds // 86400, "day"
    elif seconds >= 3600 and seconds % 3600 == 0:
        count, unit = seconds // 3600, "hour"
    else:
        count, unit = max(1, seconds // 60), "minute"
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _environment(templates_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir:
        loaders.append(jinja2.FileSystemLoader(templates_dir))
    loaders.append(jinja2.PackageLoader(_PACKAGE, _PACKAGED_FOLDER))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        # Keep the file's last newline out of the text; one-line subjects are joined anyway.
        keep_trailing_newline=False,
        # Overrides edited on disk are picked up without a restart.
        auto_reload=True,
    )


class MailTemplates:
    def __init__(self, templates_dir: str | None, app_name: str) -> None:
        self._environment = _environment(templates_dir)
        self._app_name = app_name

    def render(
        self,
        kind: MailKind,
        recipient: str,
        *,
        code: str,
        link: str,
        expires_in_seconds: int,
    ) -> OutgoingMail:
        """The mail of `kind` for `recipient`. Raises jinja2.TemplateError for a broken or
        missing template (an operator's override), which callers treat as a bug."""
        variables = {
            "app_name": self._app_name,
            "email": recipient,
            "code": code,
            "link": link,
            "expires_in_minutes": max(1, expires_in_seconds // 60),
            "expires_in": expires_in_text(expires_in_seconds),
        }
        subject = self._environment.get_template(f"{kind}.subject.txt").render(variables)
        return OutgoingMail(
            kind=kind,
            recipient=recipient,
            # One line: a header cannot hold line breaks.
            subject=" ".join(subject.split()),
            text=self._environment.get_template(f"{kind}.txt").render(variables),
            html=self._environment.get_template(f"{kind}.html").render(variables),
        )
