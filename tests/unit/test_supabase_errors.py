"""parse_error and map_error on Supabase's error answers, as status, headers and raw bytes.

The integration tests feed real answers of the test double through them; these pin every
shape, including the ones the double cannot be made to send (bodies that are not JSON, not
objects, or not UTF-8).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict

from auth_backend.errors import (
    EmailExists,
    InvalidCredentials,
    ProviderError,
    ProviderMisconfigured,
    RateLimited,
    WeakPassword,
)
from auth_backend.providers.supabase.errors import UpstreamError, map_error, parse_error

NO_HEADERS: CIMultiDict[str] = CIMultiDict()


def raw(body: Any) -> bytes:
    return json.dumps(body).encode()


def test_the_legacy_shape_takes_error_code_not_the_numeric_code() -> None:
    body = raw({"code": 422, "error_code": "email_exists", "msg": "User already registered"})
    assert parse_error(422, NO_HEADERS, body) == UpstreamError(
        422, "email_exists", "User already registered"
    )


def test_the_current_shape_takes_the_string_code_and_message() -> None:
    body = raw({"code": "invalid_credentials", "message": "Invalid login credentials"})
    assert parse_error(400, NO_HEADERS, body) == UpstreamError(
        400, "invalid_credentials", "Invalid login credentials"
    )


def test_the_oauth_shape_takes_error_and_its_description() -> None:
    body = raw({"error": "invalid_grant", "error_description": "Invalid Refresh Token"})
    assert parse_error(400, NO_HEADERS, body) == UpstreamError(
        400, "invalid_grant", "Invalid Refresh Token"
    )


def test_the_header_names_the_code_when_the_body_does_not() -> None:
    headers = CIMultiDict({"X-Sb-Error-Code": "over_request_rate_limit"})
    error = parse_error(429, headers, raw({"message": "Too many requests", "extra": 1}))
    assert error.code == "over_request_rate_limit"
    assert not error.from_gateway
    assert isinstance(map_error(error, "test"), RateLimited)


def test_a_body_that_names_a_code_wins_over_the_header() -> None:
    headers = CIMultiDict({"x-sb-error-code": "validation_failed"})
    error = parse_error(422, headers, raw({"code": "email_exists", "message": "taken"}))
    assert error.code == "email_exists"
    assert isinstance(map_error(error, "test"), EmailExists)


def test_the_gateways_message_alone_is_recognised_as_the_gateway() -> None:
    error = parse_error(401, NO_HEADERS, raw({"message": "Invalid API key", "hint": "check"}))
    assert error.from_gateway and error.code is None
    assert isinstance(map_error(error, "test"), ProviderMisconfigured)


def test_weak_password_reasons_are_kept_and_non_strings_dropped() -> None:
    body = raw(
        {
            "code": "weak_password",
            "message": "Password is too weak",
            "weak_password": {"reasons": ["length", 3, "characters"]},
        }
    )
    error = parse_error(422, NO_HEADERS, body)
    assert error.weak_password_reasons == ("length", "characters")
    mapped = map_error(error, "test")
    assert isinstance(mapped, WeakPassword)
    assert "length, characters" in mapped.detail


@pytest.mark.parametrize(
    "body",
    [b"<html><body>Bad gateway</body></html>", b"", b"\xff\xfe\x00", b"[1, 2]", b'"text"'],
    ids=["html", "empty", "not-utf8", "array", "string"],
)
def test_bodies_that_are_not_json_objects_keep_only_status_and_header(body: bytes) -> None:
    headers = CIMultiDict({"x-sb-error-code": "invalid_credentials"})
    assert parse_error(400, headers, body) == UpstreamError(400, "invalid_credentials", "")
    assert parse_error(502, NO_HEADERS, body) == UpstreamError(502, None, "")
    assert isinstance(map_error(parse_error(502, NO_HEADERS, body), "test"), ProviderError)


def test_an_unknown_code_is_a_provider_error_and_a_known_one_is_ours() -> None:
    unknown = parse_error(400, NO_HEADERS, raw({"code": "something_new", "message": "?"}))
    assert isinstance(map_error(unknown, "test"), ProviderError)
    known = parse_error(400, NO_HEADERS, raw({"error_code": "invalid_credentials", "msg": "x"}))
    assert isinstance(map_error(known, "test"), InvalidCredentials)
