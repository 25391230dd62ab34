"""GET /health: liveness, exactly {"status": "ok"}, in-process and from a real process."""

from __future__ import annotations

import httpx

from tests.support.services import LiveServer


async def test_health_is_exactly_ok(service: httpx.AsyncClient) -> None:
    response = await service.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok"}


async def test_health_carries_common_headers(service: httpx.AsyncClient) -> None:
    response = await service.get("/health", headers={"X-Request-ID": "probe-42"})
    assert response.headers["x-request-id"] == "probe-42"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_unusable_request_id_is_replaced(service: httpx.AsyncClient) -> None:
    # An id with spaces or control characters is not echoed into headers or logs.
    response = await service.get("/health", headers={"X-Request-ID": "a b\tc"})
    assert response.headers["x-request-id"] != "a b\tc"
    assert len(response.headers["x-request-id"]) == 32


async def test_health_rejects_other_methods(service: httpx.AsyncClient) -> None:
    response = await service.post("/health")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["code"] == "method_not_allowed"


def test_health_from_a_real_process(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.base_url}/health")
    assert response.status_code == 200
    assert response.text == '{"status":"ok"}'
