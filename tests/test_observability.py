"""Access logs, request ids in logs, secrets kept out of logs, and GET /metrics (in-process)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from auth_backend.domain import Capability
from auth_backend.main import create_app
from tests.support.accounts import PASSWORD, unique_email
from tests.support.observability import LogLines, metric_sample
from tests.support.problems import status_and_code
from tests.support.services import make_settings, running_app


@pytest.fixture
async def client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """One store is enough here: nothing below depends on which one it is."""
    settings = make_settings(database_url=f"sqlite:///{tmp_path / 'auth.db'}")
    async with running_app(settings, request=request) as (_app, client):
        yield client


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "auth_backend.access"]


async def test_every_request_writes_one_access_line(
    client: httpx.AsyncClient, log_lines: LogLines
) -> None:
    await client.get("/health", headers={"X-Request-ID": "probe-1"})
    [line] = access_lines(log_lines())
    assert line["request_id"] == "probe-1"
    assert (line["method"], line["route"], line["path"], line["status"]) == (
        "GET",
        "/health",
        "/health",
        200,
    )
    assert line["duration_ms"] >= 0
    assert line["client"] == "203.0.113.7"
    assert line["message"].startswith("GET /health 200 ")


async def test_generated_request_ids_are_logged_as_returned(
    client: httpx.AsyncClient, log_lines: LogLines
) -> None:
    response = await client.get("/.well-known/jwks.json")
    [line] = access_lines(log_lines())
    assert line["request_id"] == response.headers["x-request-id"]


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_unknown_paths_are_one_route_and_early_rejections_keep_theirs(
    client: httpx.AsyncClient, log_lines: LogLines
) -> None:
    await client.get("/wp-admin/setup.php")
    too_large = await client.post(
        "/signup",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": "2000000"},
    )
    assert too_large.status_code == 413
    unmatched, rejected = access_lines(log_lines())
    assert (unmatched["route"], unmatched["status"]) == ("<unmatched>", 404)
    assert unmatched["path"] == "/wp-admin/setup.php"
    assert (rejected["route"], rejected["status"]) == ("/signup", 413)


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_no_password_or_token_reaches_the_logs(
    client: httpx.AsyncClient, log_lines: LogLines
) -> None:
    email = unique_email()
    await client.post("/signup", json={"email": email, "password": PASSWORD})
    grant = (await client.post("/login", json={"email": email, "password": PASSWORD})).json()
    await client.get("/me", headers={"Authorization": f"Bearer {grant['access_token']}"})
    await client.post("/login", data={"username": email, "password": PASSWORD + "x"})
    await client.get("/me?access_token=" + grant["access_token"])
    # Everything: the service's lines and the test client's own (httpx logs each URL).
    written = json.dumps(log_lines())
    for secret in (PASSWORD, grant["access_token"], grant["refresh_token"]):
        assert secret not in written
    served = access_lines(log_lines())
    assert len(served) == 5
    # The access line has the path only, never the query string.
    assert "access_token" not in json.dumps(served)


# --- GET /metrics -----------------------------------------------------------------------------


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "auth_backend_http_requests",
        "auth_backend_http_request_duration_seconds",
        "auth_backend_logins",
        "auth_backend_signups",
        "auth_backend_provider_calls",
        "auth_backend_provider_call_duration_seconds",
        "process_cpu_seconds",
    } <= families


async def test_requests_are_counted_by_route_template_method_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    for _ in range(3):
        await client.get("/health")
    await client.post("/health")
    await client.get("/no/such/page")
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return metric_sample(after, name, **labels) - metric_sample(before, name, **labels)

    ok = {"method": "GET", "route": "/health"}
    assert delta("auth_backend_http_requests_total", **ok, status="200") == 3
    assert delta("auth_backend_http_request_duration_seconds_count", **ok) == 3
    assert delta("auth_backend_http_request_duration_seconds_bucket", **ok, le="+Inf") == 3
    assert (
        delta("auth_backend_http_requests_total", method="POST", route="/health", status="405") == 1
    )
    assert (
        delta("auth_backend_http_requests_total", method="GET", route="<unmatched>", status="404")
        == 1
    )


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_signup_and_login_outcomes_are_counted_by_result(client: httpx.AsyncClient) -> None:
    email = unique_email()
    before = await scrape(client)
    await client.post("/signup", json={"email": email, "password": PASSWORD})
    await client.post("/signup", json={"email": email, "password": PASSWORD})
    await client.post("/signup", json={"email": unique_email(), "password": "short"})
    await client.post("/login", json={"email": email, "password": PASSWORD})
    await client.post("/login", json={"email": email, "password": "wrong password"})
    await client.post("/login", json={"email": "not-an-email"})
    after = await scrape(client)

    def delta(name: str, result: str) -> float:
        return metric_sample(after, name, result=result) - metric_sample(
            before, name, result=result
        )

    assert delta("auth_backend_signups_total", "success") == 1
    assert delta("auth_backend_signups_total", "email_exists") == 1
    assert delta("auth_backend_signups_total", "weak_password") == 1
    assert delta("auth_backend_logins_total", "success") == 1
    assert delta("auth_backend_logins_total", "invalid_credentials") == 1
    assert delta("auth_backend_logins_total", "validation_failed") == 1


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_provider_calls_are_timed_and_counted_by_outcome(client: httpx.AsyncClient) -> None:
    email = unique_email()
    before = await scrape(client)
    await client.post("/signup", json={"email": email, "password": PASSWORD})
    await client.post("/signup", json={"email": email, "password": PASSWORD})
    await client.post("/login", json={"email": email, "password": PASSWORD})
    # Refused before the provider is asked: no provider call.
    await client.post("/login", json={"email": "not-an-email"})
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return metric_sample(after, name, provider="local", **labels) - metric_sample(
            before, name, provider="local", **labels
        )

    calls = "auth_backend_provider_calls_total"
    assert delta(calls, operation="sign_up", outcome="ok") == 1
    assert delta(calls, operation="sign_up", outcome="email_exists") == 1
    assert delta(calls, operation="sign_in", outcome="ok") == 1
    duration = "auth_backend_provider_call_duration_seconds"
    assert delta(f"{duration}_count", operation="sign_up") == 2
    assert delta(f"{duration}_count", operation="sign_in") == 1
    # Argon2id hashing alone takes milliseconds, so the time is real, not a placeholder.
    assert delta(f"{duration}_sum", operation="sign_in") > 0.001


@pytest.mark.requires_capability(Capability.ACCOUNTS)
async def test_a_chunked_body_over_the_limit_is_still_413(client: httpx.AsyncClient) -> None:
    # Bodiless requests skip the size-limit wrappers; a body without Content-Length must not.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "a@example.com", "password": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    response = await client.post(
        "/signup", content=chunks(), headers={"content-type": "application/json"}
    )
    assert status_and_code(response) == (413, "payload_too_large")


async def test_our_own_bugs_are_bare_500_problems_with_the_request_id(tmp_path: Path) -> None:
    app = create_app(make_settings(database_url=f"sqlite:///{tmp_path / 'auth.db'}"))

    async def broken() -> None:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/broken", broken, methods=["GET"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/broken", headers={"X-Request-ID": "bug-42"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "bug-42"
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["request_id"]) == ("internal_error", "bug-42")
    assert "secret internal detail" not in response.text
