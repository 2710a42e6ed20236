"""The REST API over HTTP -> gateway -> NATS -> services: auth, CRUD, errors, limits."""

import json
import time

import jwt
import pytest

from tests.helpers import NatsFixture
from tests.integration.gateway.conftest import TokenFactory
from tests.integration.stack import Stack, running_stack

CANARY = "canary-Http-4242-value"


async def test_missing_malformed_expired_and_forged_tokens_are_401(
    stack: Stack, auth: TokenFactory, org: str, nats_server: NatsFixture
) -> None:
    key = nats_server.data.jwt_key_file.read_text().strip()

    def signed(secret: str = key, **claims: object) -> dict[str, str]:
        base: dict[str, object] = {"sub": "u", "org": org, "role": "admin", "exp": time.time() + 60}
        payload = {k: v for k, v in (base | claims).items() if v is not None}
        return {"Authorization": "Bearer " + jwt.encode(payload, secret, algorithm="HS256")}

    cases = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not.a.jwt"},
        signed(secret="not-the-key" * 4),
        auth(org, ttl=-120),
        signed(role="root"),
        signed(org="a.b"),
        signed(exp=None),
        signed(customer_org="bad id"),
    ]
    for headers in cases:
        resp = await stack.http.get("/api/v1/secrets", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.json()["error"]["code"] == "unauthenticated"
    within_skew = await stack.http.get("/api/v1/secrets", headers=auth(org, ttl=-10))
    assert within_skew.status_code == 200


async def test_crud_over_http(stack: Stack, auth: TokenFactory, org: str) -> None:
    admin = auth(org, sub="alice")
    created = await stack.http.post(
        "/api/v1/secrets", headers=admin, json={"key": "DB_PASSWORD", "value": CANARY}
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) >= {
        "id",
        "key",
        "customerOrganizationId",
        "version",
        "createdAt",
        "createdBy",
        "updatedAt",
        "updatedBy",
    }
    assert body["createdBy"] == "alice"
    secret_id = body["id"]
    listed = await stack.http.get("/api/v1/secrets", headers=admin)
    assert listed.status_code == 200
    assert [i["key"] for i in listed.json()["items"]] == ["DB_PASSWORD"]
    assert listed.json()["nextCursor"] is None
    updated = await stack.http.put(
        f"/api/v1/secrets/{secret_id}",
        headers=admin,
        json={"value": CANARY + "2", "expectedVersion": 1},
    )
    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    assert updated.json()["affectedDeployments"] == []
    detail = await stack.http.get(f"/api/v1/secrets/{secret_id}", headers=admin)
    assert [v["version"] for v in detail.json()["versions"]] == [2, 1]
    stale = await stack.http.put(
        f"/api/v1/secrets/{secret_id}",
        headers=admin,
        json={"value": "x" * 10, "expectedVersion": 1},
    )
    assert stale.status_code == 409
    dup = await stack.http.post(
        "/api/v1/secrets", headers=admin, json={"key": "DB_PASSWORD", "value": CANARY}
    )
    assert dup.status_code == 409
    deleted = await stack.http.delete(f"/api/v1/secrets/{secret_id}", headers=admin)
    assert deleted.status_code == 204
    gone = await stack.http.get(f"/api/v1/secrets/{secret_id}", headers=admin)
    assert gone.status_code == 404
    for resp in (created, listed, updated, detail, stale, dup, gone):
        assert CANARY not in resp.text


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"key": "_BAD", "value": "v" * 8}, 422, "invalid_key", None),
        ({"key": "OK", "value": ""}, 422, "invalid_value", None),
        ({"key": "OK", "value": "x" * (64 * 1024 + 1)}, 422, "value_too_large", None),
        ({"key": "OK", "value": CANARY, "extra": 1}, 422, "invalid_request", "extra"),
        ({"key": 5, "value": CANARY}, 422, "invalid_request", "key"),
        ({"value": CANARY}, 422, "invalid_request", "key"),
        (
            {"key": "OK", "value": CANARY, "customerOrganizationId": "a.b"},
            422,
            "invalid_request",
            "customerOrganizationId",
        ),
    ],
)
async def test_bad_bodies_are_refused_without_echoing_the_value(
    stack: Stack,
    auth: TokenFactory,
    org: str,
    body: dict[str, object],
    status: int,
    code: str,
    field: str | None,
) -> None:
    resp = await stack.http.post("/api/v1/secrets", headers=auth(org), json=body)
    assert resp.status_code == status
    error = resp.json()["error"]
    assert error["code"] == code
    if field:
        assert field in error["message"]
    assert CANARY not in resp.text
    assert (await stack.http.get("/api/v1/secrets", headers=auth(org))).json()["items"] == []


async def test_malformed_json_oversized_body_and_bad_ids(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    headers = auth(org) | {"Content-Type": "application/json"}
    malformed = await stack.http.post(
        "/api/v1/secrets", headers=headers, content=b'{"key": "A", "value": ' + CANARY.encode()
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid_message"
    assert CANARY not in malformed.text
    huge = await stack.http.post(
        "/api/v1/secrets",
        headers=headers,
        content=json.dumps({"key": "A", "value": "x" * (2 << 20)}),
    )
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "payload_too_large"
    bad_id = await stack.http.get("/api/v1/secrets/a.b", headers=auth(org))
    assert bad_id.status_code == 422
    assert "secret_id" in bad_id.json()["error"]["message"]
    unknown = await stack.http.get("/api/v1/secrets/" + "0" * 32, headers=auth(org))
    assert unknown.status_code == 404


async def test_rate_limit_answers_429_with_retry_after(
    nats_server: NatsFixture, auth: TokenFactory, org: str
) -> None:
    async with running_stack(
        nats_server, services=("secrets",), overrides={"gateway": {"rate_limit": 1.0}}
    ) as limited:
        statuses = [
            (await limited.http.get("/api/v1/secrets", headers=auth(org))).status_code
            for _ in range(5)
        ]
        resp = await limited.http.get("/api/v1/secrets", headers=auth(org))
    assert statuses[:2] == [200, 200]
    assert 429 in statuses
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1


async def test_validate_and_audit_over_http(stack: Stack, auth: TokenFactory, org: str) -> None:
    await stack.http.post(
        "/api/v1/secrets", headers=auth(org), json={"key": "API_KEY", "value": CANARY}
    )
    resp = await stack.http.post(
        "/api/v1/templates/validate",
        headers=auth(org, role="read_only"),
        json={"envFile": "A={{ .Secrets.API_KEY }}\nB={{ .Secrets.MISSING }}\n"},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["valid"] is False
    assert body["references"] == ["API_KEY", "MISSING"]
    assert body["missing"] == ["MISSING"]
    assert body["errors"][0] == {
        "file": "envFile",
        "phase": "exec",
        "line": 2,
        "column": 13,
        "key": "MISSING",
        "message": 'template execution error: template: envFile:2:13: executing "envFile" '
        'at <.Secrets.MISSING>: map has no entry for key "MISSING"',
    }
    assert CANARY not in resp.text
    audit = await stack.http.get("/api/v1/audit?action=create", headers=auth(org))
    assert audit.status_code == 200
    assert [e["key"] for e in audit.json()["items"]] == ["API_KEY"]
    forbidden = await stack.http.get("/api/v1/audit", headers=auth(org, role="read_write"))
    assert forbidden.status_code == 403
    naive = await stack.http.get("/api/v1/audit?from=2026-01-01T00:00:00", headers=auth(org))
    assert naive.status_code == 422


async def test_openapi_lists_every_path_in_full(stack: Stack) -> None:
    paths = set((await stack.http.get("/openapi.json")).json()["paths"])
    assert {
        "/api/v1/secrets",
        "/api/v1/secrets/{secret_id}",
        "/api/v1/templates/validate",
        "/api/v1/deployments/{deployment_id}/logs",
        "/api/v1/deployments/{deployment_id}/logs/export",
        "/api/v1/deployments/{deployment_id}/logs/stream",
        "/api/v1/audit",
        "/healthz",
        "/readyz",
    } <= paths


async def test_asyncapi_is_served(stack: Stack) -> None:
    resp = await stack.http.get("/asyncapi")
    assert resp.status_code == 200
    assert resp.json()["asyncapi"] == "3.0.0"
    assert "sigil.secrets.secret.create" in resp.text


async def test_unsupported_methods_answer_a_listed_status(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    resp = await stack.http.patch("/api/v1/secrets", headers=auth(org), json={})
    assert resp.status_code == 404
    assert resp.json()["error"] == {
        "code": "not_found",
        "message": "no such operation",
        "details": {},
    }
