"""Hostile HTTP input gets a specific 4xx, never a 503, an echo, a traceback or Python's text."""

import base64
import logging

import pytest

from tests.integration.gateway.conftest import TokenFactory
from tests.integration.stack import Stack

CANARY = "canary-Hostile-7171-value"


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage()
        assert CANARY not in record.getMessage()


async def test_unknown_field_names_are_counted_not_echoed(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    body = {"key": "OK", "value": CANARY, f"x{CANARY}": 1, "<script>alert(1)</script>": 2}
    resp = await stack.http.post("/api/v1/secrets", headers=auth(org), json=body)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "invalid_request"
    assert "2 unknown fields" in error["message"]
    assert CANARY not in resp.text
    assert "script" not in resp.text
    positions = [e["field"] for e in error["details"]["errors"]]
    assert positions == ["body[field 3]", "body[field 4]"]


async def test_deep_or_nested_cursor_on_list_is_a_client_error(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    for raw in (
        b"[" * 5000 + b"]" * 5000,
        b"[" * 1500,
        b"[" * 300 + b"]" * 300,
        b'[["a"],"b"]',
        b'{"a": 1}',
    ):
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        resp = await stack.http.get("/api/v1/secrets", params={"cursor": cursor}, headers=auth(org))
        assert 400 <= resp.status_code < 500, (len(raw), resp.text)
        assert resp.json()["error"]["code"] == "invalid_request"


async def test_negative_or_odd_audit_cursor_is_a_client_error(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    for cursor in ("-5", "1e3", " 7", "0x10", "9" * 40):
        resp = await stack.http.get("/api/v1/audit", params={"cursor": cursor}, headers=auth(org))
        assert resp.status_code == 422, (cursor, resp.text)
        assert resp.json()["error"]["code"] == "invalid_request"
    ok = await stack.http.get("/api/v1/audit", params={"cursor": "0"}, headers=auth(org))
    assert ok.status_code == 200


async def test_lone_surrogate_is_refused_without_a_traceback(
    stack: Stack, auth: TokenFactory, org: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = auth(org) | {"Content-Type": "application/json"}
    created = await stack.http.post(
        "/api/v1/secrets", headers=headers, content=b'{"key": "K", "value": "' + b"x" * 4 + b'"}'
    )
    assert created.status_code == 201
    for path, method, raw in (
        ("/api/v1/secrets", "POST", b'{"key": "SUR", "value": "ab\\ud800cd"}'),
        ("/api/v1/secrets", "POST", b'{"key": "S\\udfffR", "value": "abcd"}'),
        (f"/api/v1/secrets/{created.json()['id']}", "PUT", b'{"value": "\\udc00"}'),
        ("/api/v1/templates/validate", "POST", b'{"envFile": "A=\\ud83d"}'),
    ):
        resp = await stack.http.request(method, path, headers=headers, content=raw)
        assert resp.status_code == 422, (path, resp.text)
        assert resp.json()["error"]["code"] in {"invalid_value", "invalid_request"}
    listed = await stack.http.get("/api/v1/secrets", headers=auth(org))
    assert [i["version"] for i in listed.json()["items"]] == [1]
    _no_traceback(caplog)


async def test_chunked_body_over_the_limit_is_413(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"key": "BIG", "value": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    headers = auth(org) | {"Content-Type": "application/json"}
    resp = await stack.http.post("/api/v1/secrets", headers=headers, content=chunks())
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"

    async def small():  # type: ignore[no-untyped-def]
        yield b'{"key": "SMALL", '
        yield b'"value": "' + CANARY.encode() + b'"}'

    ok = await stack.http.post("/api/v1/secrets", headers=headers, content=small())
    assert ok.status_code == 201, ok.text


async def test_validate_with_neither_file_is_422(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    for body in ({}, {"envFile": None, "valuesYaml": None}):
        resp = await stack.http.post("/api/v1/templates/validate", headers=auth(org), json=body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "invalid_request"
        assert "envFile" in resp.json()["error"]["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"key": "OK", "value": "abcd", "customerOrganizationId": ' + b"9" * 5000 + b"}",
        b'{"value": "abcd", "expectedVersion": ' + b"9" * 5000 + b"}",
        b'{"value": "abcd", "expectedVersion": ' + b"9" * 400 + b"}",
        b'{"key": "OK", "value": "abcd", "customerOrganizationId": 1e999}',
    ],
)
async def test_huge_integer_does_not_surface_python_text(
    stack: Stack, auth: TokenFactory, org: str, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = auth(org) | {"Content-Type": "application/json"}
    method, path = ("POST", "/api/v1/secrets") if b'"key"' in raw else ("PUT", "/api/v1/secrets/a")
    resp = await stack.http.request(method, path, headers=headers, content=raw)
    assert 400 <= resp.status_code < 500, resp.text
    text = resp.text.lower()
    for python_text in ("exceeds the limit", "int_max_str_digits", "sys.set", "4300", "inf"):
        assert python_text not in text, resp.text
    _no_traceback(caplog)


async def test_the_longest_real_cursor_fits_the_bound(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    customer = "c" * 64
    for key in ("A" * 256, "B" * 256):
        created = await stack.http.post(
            "/api/v1/secrets",
            headers=auth(org),
            json={"key": key, "value": "abcd", "customerOrganizationId": customer},
        )
        assert created.status_code == 201, created.text
    first = await stack.http.get("/api/v1/secrets", params={"limit": 1}, headers=auth(org))
    cursor = first.json()["nextCursor"]
    assert cursor
    second = await stack.http.get(
        "/api/v1/secrets", params={"limit": 1, "cursor": cursor}, headers=auth(org)
    )
    assert second.status_code == 200, second.text
    assert [i["key"] for i in second.json()["items"]] == ["B" * 256]


async def test_huge_integer_in_a_query_is_a_plain_422(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    for path in ("/api/v1/secrets", "/api/v1/audit"):
        resp = await stack.http.get(path, params={"limit": "9" * 5000}, headers=auth(org))
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "invalid_request"
        text = resp.text.lower()
        assert "exceeds the limit" not in text
        assert "9" * 50 not in text
