"""Logs over HTTP: a page and a text export of redacted lines, scoped like secrets."""

import asyncio
from datetime import UTC, datetime

import httpx
from nats.aio.client import Client as NatsClient

from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import LogRecord, TemplateRenderRequest
from tests.helpers import NatsFixture
from tests.integration.bus_client import bus_as
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
    # No receipt names a customer for "app": the records' claim (c1) gives c1 nothing.
    for customer in ("c1", "c2"):
        refused = await stack.http.get(
            "/api/v1/deployments/app/logs", headers=auth(org, role="read_only", customer=customer)
        )
        assert refused.status_code == 404
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


async def _publish_tagged(nc: NatsClient, org: str, deployment: str, tags: list[str]) -> None:
    js = nc.jetstream()
    for n, customer in enumerate(tags):
        record = LogRecord(
            deployment_id=deployment,
            timestamp=datetime.now(UTC),
            body=f"line {n} of {customer}",
            customer_organization_id=customer,
        )
        await js.publish(subjects.logs_raw(org, deployment), record.model_dump_json().encode())


async def _vendor_items(
    stack: Stack, auth: TokenFactory, org: str, deployment: str, count: int
) -> list[dict[str, object]]:
    for _ in range(200):
        page = await stack.http.get(f"/api/v1/deployments/{deployment}/logs", headers=auth(org))
        items: list[dict[str, object]] = page.json().get("items", [])
        if len(items) >= count:
            return items
        await asyncio.sleep(0.05)
    raise AssertionError(f"{deployment}: fewer than {count} records arrived")


async def _reads(
    stack: Stack, headers: dict[str, str], deployment: str, after: int
) -> list[httpx.Response]:
    """A page, a page after a cursor, the export and the stream's authorization."""
    base = f"/api/v1/deployments/{deployment}/logs"
    return [
        await stack.http.get(base, headers=headers),
        await stack.http.get(f"{base}?after={after}", headers=headers),
        await stack.http.get(f"{base}?limit=1", headers=headers),  # the stream's check
        await stack.http.get(f"{base}/export", headers=headers),
    ]


async def test_ownership_of_logs_comes_from_receipts_never_from_the_records(
    stack: Stack,
    auth: TokenFactory,
    org: str,
    platform_nc: NatsClient,
    nats_server: NatsFixture,
) -> None:
    """Red-team F4: custB2 read custB's lines on a deployment without receipts by paging
    after a record tagged custB2 (and the stream, authorized by the newest record)."""
    await _publish_tagged(platform_nc, org, "depT", ["custB", "custB", "custB2", "custB"])
    items = await _vendor_items(stack, auth, org, "depT", 4)
    second = int(str(items[1]["sequence"]))
    for customer in ("custB2", "custB"):
        headers = auth(org, role="read_only", customer=customer)
        for resp in await _reads(stack, headers, "depT", second):
            assert resp.status_code == 404, (customer, resp.request.url)
            assert "line " not in resp.text
        stream = await stack.http.get("/api/v1/deployments/depT/logs/stream", headers=headers)
        assert stream.status_code == 404

    # A receipted deployment: its customer (the newest receipt's) reads it, whatever the
    # records claim; another customer does not.
    await stack.http.post(
        "/api/v1/secrets", headers=auth(org), json={"key": "K", "value": "receipted-value-88"}
    )
    async with bus_as(nats_server, "platform") as platform:
        await request(
            platform,
            ops.TEMPLATE_RENDER,
            TemplateRenderRequest(
                organization_id=org,
                customer_organization_id="custB",
                deployment_id="depR",
                revision=1,
                env_file="K={{ .Secrets.K }}",
            ),
            timeout=20,
        )
    await _publish_tagged(platform_nc, org, "depR", ["custB2", "custB", "custB2"])
    items = await _vendor_items(stack, auth, org, "depR", 3)
    first = int(str(items[0]["sequence"]))
    owner = auth(org, role="read_only", customer="custB")
    page, after, newest, export = await _reads(stack, owner, "depR", first)
    assert [i["record"]["body"] for i in page.json()["items"]] == [
        "line 0 of custB2",
        "line 1 of custB",
        "line 2 of custB2",
    ]
    assert len(after.json()["items"]) == 2
    assert newest.status_code == 200
    assert export.text.count("line ") == 3
    assert all(i["record"].get("customerOrganizationId") is None for i in page.json()["items"])
    intruder = auth(org, role="read_only", customer="custB2")
    for resp in await _reads(stack, intruder, "depR", first):
        assert resp.status_code == 404
    stream = await stack.http.get("/api/v1/deployments/depR/logs/stream", headers=intruder)
    assert stream.status_code == 404
