"""Settings: defaults, provider choice, URL normalisation and one-line errors without secrets."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from auth_backend.settings import Settings, describe_settings_error, to_async_database_url
from tests.support.services import ROOT, make_settings

# The Supabase CLI's public demo anon key (docs/reference/supabase-auth-behaviour.md §7): a JWT
# whose role is anon.
ANON_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9"
    ".CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
)

SETTING_VARIABLES = (
    "AUTH_PROVIDER", "DATABASE_URL", "HOST", "PORT", "LOG_LEVEL", "ACCESS_TOKEN_TTL", "JWT_ISSUER",
    "SUPABASE_URL", "SUPABASE_SERVICE_KEY", "SUPABASE_ANON_KEY", "SUPABASE_JWT_SECRET",
    "SIGNUP_AUTO_CONFIRM", "SUPABASE_JWT_ISSUER", "SUPABASE_CLIENT_IP_HEADER", "SUPABASE_TIMEOUT",
    "ARGON2_MEMORY_MIB",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def error_line(**environment: str) -> str:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        with pytest.raises(ValidationError) as caught:
            make_settings()
    return describe_settings_error(caught.value)


def test_defaults() -> None:
    settings = make_settings()
    assert settings.provider == "local"
    assert settings.port == 8080
    assert settings.access_token_ttl == 3600
    assert settings.database_url == "sqlite+aiosqlite:///./data/auth.db"


def test_supabase_is_the_default_when_its_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", "https://abc.supabase.co")
    monkeypatch.setenv("SUPABASE_SERVICE_KEY", "service-key")
    assert make_settings().provider == "supabase"
    monkeypatch.setenv("AUTH_PROVIDER", "local")
    assert make_settings().provider == "local"


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", "")
    monkeypatch.setenv("PORT", "")
    settings = make_settings()
    assert settings.provider == "local"
    assert settings.port == 8080


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+aiosqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("postgresql://u:p@db:5432/auth", "postgresql+asyncpg://u:p@db:5432/auth"),
        ("postgres://u@db/auth", "postgresql+asyncpg://u@db/auth"),
        ("postgresql+asyncpg://u@db/auth", "postgresql+asyncpg://u@db/auth"),
        ("postgresql://u@db/auth?sslmode=require", "postgresql+asyncpg://u@db/auth?ssl=require"),
    ],
)
def test_plain_and_driver_database_urls(url: str, expected: str) -> None:
    assert to_async_database_url(url) == expected


def test_bad_values_name_the_variable_on_one_line() -> None:
    line = error_line(PORT="eighty", LOG_LEVEL="loud")
    assert "\n" not in line
    assert line.startswith("invalid configuration: ")
    assert "PORT='eighty'" in line
    assert "LOG_LEVEL='loud'" in line


@pytest.mark.parametrize(
    ("environment", "variable"),
    [
        ({"DATABASE_URL": "mysql://root:pw@db/auth"}, "DATABASE_URL"),
        ({"ACCESS_TOKEN_TTL": "5"}, "ACCESS_TOKEN_TTL"),
        ({"AUTH_PROVIDER": "ldap"}, "AUTH_PROVIDER"),
        ({"AUTH_PROVIDER": "supabase"}, "SUPABASE_URL"),
        ({"SUPABASE_URL": "https://abc.supabase.co"}, "SUPABASE_SERVICE_KEY"),
        ({"SUPABASE_URL": "not a url", "SUPABASE_SERVICE_KEY": "k"}, "SUPABASE_URL"),
        (
            {"SUPABASE_URL": "https://abc.supabase.co/auth/v1", "SUPABASE_SERVICE_KEY": "k"},
            "SUPABASE_URL",
        ),
        (
            {"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_SERVICE_KEY": "sb_publishable_x"},
            "SUPABASE_SERVICE_KEY",
        ),
        (
            {"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_SERVICE_KEY": ANON_JWT},
            "SUPABASE_SERVICE_KEY",
        ),
        ({"SUPABASE_CLIENT_IP_HEADER": "X Bad: header"}, "SUPABASE_CLIENT_IP_HEADER"),
        ({"SUPABASE_TIMEOUT": "0"}, "SUPABASE_TIMEOUT"),
        ({"ARGON2_MEMORY_MIB": "8"}, "ARGON2_MEMORY_MIB"),
        ({"ARGON2_MEMORY_MIB": "many"}, "ARGON2_MEMORY_MIB"),
    ],
)
def test_each_bad_setting_is_named(environment: dict[str, str], variable: str) -> None:
    assert variable in error_line(**environment)


def test_secret_and_credential_values_are_never_echoed() -> None:
    line = error_line(DATABASE_URL="mysql://root:hunter2@db/auth")
    assert "hunter2" not in line
    assert "DATABASE_URL" in line
    line = error_line(SUPABASE_URL="https://abc.supabase.co", SUPABASE_SERVICE_KEY=ANON_JWT)
    assert ANON_JWT not in line and ANON_JWT.split(".")[1] not in line


def test_supabase_issuer_defaults_to_the_project_auth_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", "https://abc.supabase.co/")
    monkeypatch.setenv("SUPABASE_SERVICE_KEY", "sb_secret_x")
    assert make_settings().supabase_issuer == "https://abc.supabase.co/auth/v1"
    monkeypatch.setenv("SUPABASE_JWT_ISSUER", "http://127.0.0.1:54321/auth/v1")
    assert make_settings().supabase_issuer == "http://127.0.0.1:54321/auth/v1"


def test_database_url_for_logs_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://auth:hunter2@db/auth")
    settings = Settings(_env_file=None)
    assert "hunter2" not in settings.database_url_for_logs
    assert "db/auth" in settings.database_url_for_logs


def test_env_example_is_rendered_from_the_settings() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_env_example.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in example
