"""Uses of values are audited end to end: validate and render leave events in GET /api/v1/audit.

The whole stack runs on the session's nats-server; the renderer publishes a ValueUseEvent
into the audit intake before it answers (contract C1), the secrets service appends it to
the organization's keyed chain, and the gateway shows it to admins. Never a value.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from faststream.nats import NatsBroker

from sigil_cli.tokens import issue_token
from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import (
    Actor,
    Role,
    TemplateRenderReply,
    TemplateRenderRequest,
    ValueUseKey,
)
from tests.helpers import NatsFixture, value_use_event
from tests.integration.bus_client import bus_as
from tests.integration.stack import Stack, running_stack

CANARY = "canary-ValueUse-8841-secret"


@pytest.fixture
async def stack(nats_server: NatsFixture) -> AsyncIterator[Stack]:
    async with running_stack(nats_server) as running:
        yield running


@pytest.fixture
async def platform(nats_server: NatsFixture, stack: Stack) -> AsyncIterator[NatsBroker]:
    del stack
    async with bus_as(nats_server, "platform") as broker:
        yield broker


def _auth(fx: NatsFixture, org: str, role: str = "admin", sub: str = "u1") -> dict[str, str]:
    key = fx.data.jwt_key_file.read_text().strip()
    token = issue_token(key, org=org, role=role, customer_org=None, sub=sub, ttl_seconds=600)
    return {"Authorization": f"Bearer {token}"}


async def _audit_items(
    http: httpx.AsyncClient, headers: dict[str, str], action: str, count: int
) -> list[dict[str, Any]]:
    """Poll GET /api/v1/audit until ``count`` events of ``action`` are there."""
    async with asyncio.timeout(20):
        while True:
            resp = await http.get(f"/api/v1/audit?action={action}", headers=headers)
            assert resp.status_code == 200, resp.text
            items: list[dict[str, Any]] = resp.json()["items"]
            if len(items) >= count:
                return items
            await asyncio.sleep(0.05)


async def test_intake_events_show_in_the_audit_api(
    stack: Stack, nats_server: NatsFixture, unique: str
) -> None:
    org = f"vorg-{unique}"
    use = value_use_event(
        org,
        actor=Actor(user_id="deployer", organization_id=org, role=Role.READ_WRITE),
        deployment_id="web",
        revision="4",
        keys=[ValueUseKey(key="DB_PASSWORD", version=3)],
        request_id="req-render-1",
    )
    nc = await nats_server.connect("renderer")
    try:
        ack = await nc.jetstream().publish(
            subjects.audit_intake(org),
            use.model_dump_json().encode(),
            headers={"Nats-Msg-Id": use.event_id},
        )
        assert ack.stream == subjects.AUDIT_INTAKE_STREAM
    finally:
        await nc.close()
    (item,) = await _audit_items(stack.http, _auth(nats_server, org), "template.render", 1)
    assert item["id"] == use.event_id
    assert (item["deploymentId"], item["revision"], item["actorId"]) == ("web", "4", "deployer")
    assert item["keys"] == [{"key": "DB_PASSWORD", "customerOrganizationId": None, "version": 3}]
    assert item["outcome"] == "success"
    assert item["chainSeq"] == 1
    assert len(item["hash"]) == 64


async def test_validate_and_render_produce_audit_events_without_values(
    stack: Stack, platform: NatsBroker, nats_server: NatsFixture, unique: str
) -> None:
    org = f"vorg-{unique}"
    admin = _auth(nats_server, org)
    created = await stack.http.post(
        "/api/v1/secrets", headers=admin, json={"key": "API_KEY", "value": CANARY}
    )
    assert created.status_code == 201, created.text
    validated = await stack.http.post(
        "/api/v1/templates/validate",
        headers=_auth(nats_server, org, role="read_only", sub="reader"),
        json={"envFile": "A={{ .Secrets.API_KEY }}\nB={{ .Secrets.MISSING }}\n"},
    )
    assert validated.status_code == 200, validated.text
    rendered = await request(
        platform,
        ops.TEMPLATE_RENDER,
        TemplateRenderRequest(  # type: ignore[call-arg]
            organization_id=org,
            deployment_id="api",
            revision=2,
            env_file="T={{ .Secrets.API_KEY }}",
        ),
        timeout=10,
    )
    assert rendered is not None
    (validate,) = await _audit_items(stack.http, admin, "template.validate", 1)
    assert validate["actorId"] == "reader"
    assert {k["key"] for k in validate["keys"]} >= {"API_KEY"}
    assert all(k["version"] is None for k in validate["keys"])
    (render,) = await _audit_items(stack.http, admin, "template.render", 1)
    assert render["deploymentId"] == "api"
    assert render["keys"] == [{"key": "API_KEY", "customerOrganizationId": None, "version": 1}]
    assert render["outcome"] == "success"
    every = await stack.http.get("/api/v1/audit", headers=admin)
    assert CANARY not in every.text
    assert [e["chainSeq"] for e in every.json()["items"]] == [1, 2, 3]
    assert isinstance(rendered, TemplateRenderReply)
