"""The operational surface over HTTP: answers with personal data are never cached, and
/metrics and the documentation answer only the networks in OPERATIONS_ALLOWED_NETWORKS,
judged on the client `client_ip` names (behind TRUSTED_PROXIES too), in-process and in a real
two-worker process (api/operational.py)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from auth_backend.settings import PRIVATE_NETWORKS, Settings
from tests.support.accounts import PASSWORD, log_in, sign_up, unique_email
from tests.support.problems import assert_problem
from tests.support.services import LiveServer, make_settings, running_app, start_server, stop_server

PUBLIC_CLIENT = "203.0.113.7"
DEFAULT_NETWORKS = ",".join(PRIVATE_NETWORKS)
OPERATIONAL = [
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/docs/static/swagger-ui.css",
]
# Served to everyone: probes, key discovery, and the API itself.
PUBLIC = [("/health", 200), ("/ready", 200), ("/.well-known/jwks.json", 200), ("/me", 401)]


@asynccontextmanager
async def client_from(ip: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url="sqlite:///:memory:",
        **{"operations_allowed_networks": DEFAULT_NETWORKS, **overrides},
    )
    async with running_app(settings, client_ip=ip) as (_app, client):
        yield client


def test_the_default_allows_loopback_and_private_networks_only() -> None:
    field = Settings.model_fields["operations_allowed_networks"]
    assert field.default_factory is not None
    default = [str(network) for network in field.default_factory()]  # type: ignore[call-arg]
    assert default == list(PRIVATE_NETWORKS)


# --- Cache-Control on personal data ---------------------------------------------------------


def assert_not_stored(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_signup_and_me_are_never_stored() -> None:
    async with client_from(PUBLIC_CLIENT) as client:
        email = unique_email("nostore")
        signup = await sign_up(client, email)
        assert signup.status_code == 201
        assert_not_stored(signup)
        login = await log_in(client, email)
        assert_not_stored(login)
        token = login.json()["access_token"]
        for _ in range(2):  # the first answer, then the memoised body (api/me_bodies.py)
            me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200
            assert_not_stored(me)


# --- the allow-list -----------------------------------------------------------------------


@pytest.mark.parametrize("path", OPERATIONAL)
async def test_a_public_client_is_refused_the_operational_endpoints(path: str) -> None:
    async with client_from(PUBLIC_CLIENT) as client:
        response = await client.get(path, headers={"X-Request-ID": "ops-1"})
    body = assert_problem(response, 403, "forbidden")
    assert body["request_id"] == "ops-1"
    assert "auth_backend" not in response.text and "# HELP" not in response.text


@pytest.mark.parametrize(("path", "status"), PUBLIC)
async def test_a_public_client_keeps_the_public_endpoints(path: str, status: int) -> None:
    async with client_from(PUBLIC_CLIENT) as client:
        assert (await client.get(path)).status_code == status


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "172.20.0.5", "192.168.1.9", "::1"])
async def test_loopback_and_private_clients_are_served(ip: str) -> None:
    async with client_from(ip) as client:
        for path in OPERATIONAL:
            assert (await client.get(path)).status_code == 200, path


async def test_the_networks_are_configurable_and_can_allow_everyone() -> None:
    async with client_from(PUBLIC_CLIENT, operations_allowed_networks="0.0.0.0/0,::/0") as c:
        assert (await c.get("/metrics")).status_code == 200
    async with client_from("10.1.2.3", operations_allowed_networks="192.168.0.0/16") as c:
        assert_problem(await c.get("/metrics"), 403, "forbidden")


@pytest.mark.parametrize(
    ("forwarded_for", "status"),
    [
        (PUBLIC_CLIENT, 403),  # a public client through our proxy
        (f"10.9.9.9, {PUBLIC_CLIENT}", 403),  # its claim on the left is not believed
        ("10.1.2.3", 200),  # a private client through our proxy
        (f"{PUBLIC_CLIENT}, 10.1.2.3", 200),  # the nearest untrusted hop decides
    ],
)
async def test_behind_trusted_proxies_the_forwarded_client_decides(
    forwarded_for: str, status: int
) -> None:
    async with client_from("10.0.0.2", trusted_proxies="10.0.0.2/32") as client:
        response = await client.get("/metrics", headers={"X-Forwarded-For": forwarded_for})
    assert response.status_code == status, response.text


async def test_a_forwarded_header_from_an_untrusted_peer_is_ignored() -> None:
    async with client_from(PUBLIC_CLIENT, trusted_proxies="10.0.0.2/32") as client:
        response = await client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert_problem(response, 403, "forbidden")


# --- a real server with two workers -------------------------------------------------------


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("surface")
    # Loopback left out, so that this machine's requests are the outsiders; 127.0.0.1 is
    # the trusted proxy that forwards the operators' addresses.
    server = start_server(
        {
            "DATABASE_URL": f"sqlite:///{directory / 'auth.db'}",
            "LOG_FORMAT": "json",
            "WEB_CONCURRENCY": "2",
            "OPERATIONS_ALLOWED_NETWORKS": "10.0.0.0/8",
            "TRUSTED_PROXIES": "127.0.0.1",
        },
        directory / "server.log",
        timeout=120,
    )
    yield server
    stop_server(server)


def refusing_pids(server: LiveServer) -> set[int]:
    return {
        entry["pid"]
        for entry in (json.loads(line) for line in server.log().splitlines() if line.strip())
        if str(entry.get("request_id", "")).startswith("out-") and entry.get("status") == 403
    }


@pytest.mark.slow
def test_every_worker_refuses_outsiders_and_serves_operators(two_workers: LiveServer) -> None:
    base = two_workers.base_url
    sent = 0
    for _batch in range(10):
        for _ in range(10):
            # A new connection each time, so that either worker may take it.
            refused = httpx.get(f"{base}/metrics", headers={"X-Request-ID": f"out-{sent}"})
            assert_problem(refused, 403, "forbidden")
            sent += 1
            served = httpx.get(f"{base}/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
            assert served.status_code == 200
            assert "auth_backend_http_requests_total" in served.text
            assert httpx.get(f"{base}/docs").status_code == 403
            assert httpx.get(f"{base}/health").status_code == 200
        time.sleep(0.2)
        if len(refusing_pids(two_workers)) == 2:
            break
    assert len(refusing_pids(two_workers)) == 2, "one worker answered every request"


@pytest.mark.slow
def test_signup_and_me_are_never_stored_by_a_real_server(two_workers: LiveServer) -> None:
    base = two_workers.base_url
    email = unique_email("nostore")
    signup = httpx.post(f"{base}/signup", json={"email": email, "password": PASSWORD})
    assert signup.status_code == 201
    assert_not_stored(signup)
    login = httpx.post(f"{base}/login", json={"email": email, "password": PASSWORD})
    me = httpx.get(
        f"{base}/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.status_code == 200
    assert_not_stored(me)
