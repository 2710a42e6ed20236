"""Readiness over HTTP -> gateway -> NATS -> every service, on a real nats-server."""

from tests.helpers import NatsFixture
from tests.integration.stack import running_stack


async def test_readyz_is_200_when_every_service_answers(nats_server: NatsFixture) -> None:
    async with running_stack(nats_server) as stack:
        resp = await stack.http.get("/readyz")
    assert resp.status_code == 200
    assert resp.json() == {
        "status": "ready",
        "checks": {"nats": "ok", "secrets": "ok", "renderer": "ok", "redactor": "ok"},
    }


async def test_readyz_is_503_naming_the_missing_service(nats_server: NatsFixture) -> None:
    async with running_stack(nats_server, services=("secrets", "renderer")) as stack:
        resp = await stack.http.get("/readyz")
    assert resp.status_code == 503
    body = resp.json()["error"]
    assert body["code"] == "unavailable"
    assert body["message"] == "not ready: redactor"
    assert body["details"]["checks"]["secrets"] == "ok"
    assert "no service answers" in body["details"]["checks"]["redactor"]


async def test_healthz_and_openapi_answer(nats_server: NatsFixture) -> None:
    async with running_stack(nats_server, services=()) as stack:
        health = await stack.http.get("/healthz")
        spec = await stack.http.get("/openapi.json")
    assert health.json() == {"status": "ok"}
    assert {"/healthz", "/readyz"} <= set(spec.json()["paths"])


async def test_unknown_path_uses_the_error_shape(nats_server: NatsFixture) -> None:
    async with running_stack(nats_server, services=()) as stack:
        resp = await stack.http.get("/nope")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
