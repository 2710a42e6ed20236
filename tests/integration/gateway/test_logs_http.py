"""Logs over HTTP: a page and a text export of redacted lines, scoped like secrets."""

import asyncio
from datetime import UTC, datetime

from nats.aio.client import Client as NatsClient

from sigil_shared import subjects
from sigil_shared.contracts import LogRecord
from tests.integration.gateway.conftest import TokenFactory
from tests.integration.stack import Stack

SECRET = "log-secret-value-31337"


async def test_page_and_export_are_redacted(
    stack: Stack, auth: TokenFactory, org: str, platform_nc: NatsClient
) -> None:
    await stack.http.post(
        "/api/v1/secrets",
        headers=auth(org),
        json={"key": "K", "value": SECRET, "customerOrganizationId": "c1"},
    )
    js = platform_nc.jetstream()
    for i in range(3):
        record = LogRecord(
            deployment_id="app",
            timestamp=datetime.now(UTC),
            severity="info",
            body=f"line {i} {SECRET}",
            customer_organization_id="c1",
        )
        await js.publish(subjects.logs_raw(org, "app"), record.model_dump_json().encode())
    for _ in range(100):
        page = await stack.http.get("/api/v1/deployments/app/logs", headers=auth(org))
        if len(page.json().get("items", [])) == 3:
            break
        await asyncio.sleep(0.05)
    assert page.status_code == 200
    assert [i["record"]["body"] for i in page.json()["items"]] == [
        f"line {i} ********" for i in range(3)
    ]
    export = await stack.http.get("/api/v1/deployments/app/logs/export", headers=auth(org))
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/plain")
    assert export.text.count("********") == 3
    assert SECRET not in export.text + page.text
    customer = await stack.http.get(
        "/api/v1/deployments/app/logs", headers=auth(org, role="read_only", customer="c1")
    )
    assert len(customer.json()["items"]) == 3
    other = await stack.http.get("/api/v1/deployments/app/logs", headers=auth(org, customer="c2"))
    assert other.status_code == 404
    bad = await stack.http.get("/api/v1/deployments/a.b/logs", headers=auth(org))
    assert bad.status_code == 422


async def test_cursor_beyond_the_sequence_range_is_a_validation_error(
    stack: Stack, auth: TokenFactory, org: str
) -> None:
    resp = await stack.http.get(
        "/api/v1/deployments/app/logs?after=18590991633774505735590248448", headers=auth(org)
    )
    assert resp.status_code == 422
    assert "after" in resp.json()["error"]["message"]
    fine = await stack.http.get(
        f"/api/v1/deployments/app/logs?after={2**63 - 1}", headers=auth(org)
    )
    assert fine.status_code == 200
    assert fine.json()["items"] == []
