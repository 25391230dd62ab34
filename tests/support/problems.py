"""Problem documents (RFC 9457, `application/problem+json`) as the service answers errors."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The full problem document: status, media type, code, type URN, title, detail and the
    request id of the response; returns the body for further checks."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:auth-backend:problem:{code}"
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def status_and_code(response: httpx.Response) -> tuple[int, str]:
    """`(status, code)` of an error answer, to compare with one tuple."""
    code: str = response.json()["code"]
    return response.status_code, code


def problem_code(response: httpx.Response) -> tuple[int, str]:
    """`(status, code)` of an answer that must be a problem document (media type asserted)."""
    assert response.headers["content-type"] == PROBLEM_JSON, response.text
    return status_and_code(response)
