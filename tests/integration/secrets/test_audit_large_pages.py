"""Audit query pages are bounded in bytes (red-team N2): after a few of the largest audit
events (a validation names up to 2,000 keys of 256 characters), GET /api/v1/audit still
answers every page with the default limit and with 1,000, and every event is reachable.

Before, a page of 100 such events was ~100 MB: the secrets service's reply was over NATS's
max_payload, never sent, and the audit API answered 503 for good (the stream denies delete).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sigil_cli.tokens import issue_token
from sigil_secrets.adapters.js_audit import JetStreamAuditLog
from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_secrets.service import AUDIT_PAGE_BYTES, AUDIT_SCAN_EVENTS, SecretsService, _shortened
from sigil_shared import subjects
from sigil_shared.contracts import (
    Actor,
    AuditEvent,
    AuditOutcome,
    AuditQueryReply,
    AuditQueryRequest,
    Role,
    ValueUseEvent,
    ValueUseKey,
)
from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, actor
from tests.integration.stack import Stack, running_stack

CANARY = "canary-AuditPages-3390-secret"
BIG_EVENTS = 8  # ~4.9 MB together: one page of them was over the 4 MiB max_payload
KEYS_PER_EVENT = 2_000  # of 256 characters (the most an event names): ~0.6 MB per event


@pytest.fixture
async def stack(nats_server: NatsFixture) -> AsyncIterator[Stack]:
    async with running_stack(nats_server) as running:
        yield running


def _auth(fx: NatsFixture, org: str, role: str = "admin") -> dict[str, str]:
    key = fx.data.jwt_key_file.read_text().strip()
    token = issue_token(key, org=org, role=role, customer_org=None, sub="u1", ttl_seconds=600)
    return {"Authorization": f"Bearer {token}"}


def _big_use(org: str, n: int) -> ValueUseEvent:
    keys = [ValueUseKey(key=f"K{n}_{i:04d}".ljust(256, "X")) for i in range(KEYS_PER_EVENT)]
    return ValueUseEvent(
        event_id=uuid.uuid4().hex,
        action="template.validate",
        actor=Actor(user_id="reader", organization_id=org, role=Role.READ_ONLY),
        organization_id=org,
        keys=keys,
        outcome="success",
        request_id=f"big-{n}",
        at=datetime.now(UTC),
    )


async def _pages(
    http: httpx.AsyncClient, headers: dict[str, str], query: str
) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        url = f"/api/v1/audit?{query}" + (f"&cursor={cursor}" if cursor else "")
        resp = await http.get(url, headers=headers)
        assert resp.status_code == 200, resp.text[:300]
        assert len(resp.content) < AUDIT_PAGE_BYTES + 64 * 1024
        body = resp.json()
        pages.append(body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return pages


async def test_pages_of_large_audit_events_all_answer(
    stack: Stack, nats_server: NatsFixture, unique: str
) -> None:
    org = f"vorg-{unique}"
    admin = _auth(nats_server, org)
    created = await stack.http.post(
        "/api/v1/secrets", headers=admin, json={"key": "FIRST", "value": CANARY}
    )
    assert created.status_code == 201, created.text
    uses = [_big_use(org, n) for n in range(BIG_EVENTS)]
    nc = await nats_server.connect("renderer")
    try:
        for use in uses:
            body = use.model_dump_json().encode()
            assert AUDIT_PAGE_BYTES // 2 < len(body) < AUDIT_PAGE_BYTES
            await nc.jetstream().publish(
                subjects.audit_intake(org), body, headers={"Nats-Msg-Id": use.event_id}
            )
    finally:
        await nc.close()
    created = await stack.http.post(
        "/api/v1/secrets", headers=admin, json={"key": "LAST", "value": CANARY}
    )
    assert created.status_code == 201, created.text
    wanted = {use.event_id for use in uses}
    async with asyncio.timeout(30):  # the intake appends asynchronously
        while True:
            pages = await _pages(stack.http, admin, "action=template.validate")
            if {item["id"] for page in pages for item in page} >= wanted:
                break
            await asyncio.sleep(0.1)
    for query in ("", "limit=1000"):
        pages = await _pages(stack.http, admin, query)
        items = [item for page in pages for item in page]
        ids = [item["id"] for item in items]
        assert len(ids) == len(set(ids))
        assert wanted <= set(ids)
        assert [i["chainSeq"] for i in items] == sorted(i["chainSeq"] for i in items)
        assert {"FIRST", "LAST"} <= {i["key"] for i in items if i["action"] == "create"}
        for page in pages:  # two big events never share a page; small ones fill in
            assert sum(1 for i in page if i["id"] in wanted) <= 1
        big = [i for i in items if i["id"] in wanted]
        assert all(len(i["keys"]) == KEYS_PER_EVENT for i in big)
        assert not any("truncated" in (i["details"] or {}) for i in big)  # whole
        text = "".join(str(page) for page in pages)
        assert CANARY not in text


class _Log:
    """An audit log port holding given events (only ``events`` is used by the query)."""

    def __init__(self, events: list[AuditEvent]) -> None:
        self._events = events

    async def events(self, organization_id: str, *, after: int) -> AsyncIterator[Any]:
        for seq, event in enumerate(self._events, start=1):
            if seq > after and event.organization_id == organization_id:
                yield seq, event


def _query_service(events: list[AuditEvent], **bounds: Any) -> SecretsService:
    """A service whose audit query reads ``events``: only the audit log is used by it."""
    return SecretsService(
        store=None,  # type: ignore[arg-type]
        audit=_Log(events),  # type: ignore[arg-type]
        events=None,  # type: ignore[arg-type]
        keyring=None,  # type: ignore[arg-type]
        generation=None,  # type: ignore[arg-type]
        **bounds,
    )


def _event(n: int, keys: int) -> AuditEvent:
    return AuditEvent(
        id=f"e{n}",
        organization_id="o1",
        actor_id="u1",
        actor_role=Role.READ_ONLY,
        actor_customer_organization_id=None,
        action="template.validate",
        request_id=f"r{n}",
        outcome="success",
        at=datetime.now(UTC),
        keys=[ValueUseKey(key=f"K{i:05d}".ljust(100, "X")) for i in range(keys)],
        prev_hash="0" * 64,
    )


async def test_page_bounds_and_an_event_too_large_for_any_reply() -> None:
    """In process, with small bounds: pages stop at the byte bound, an event over the page
    bound is alone on its page, one over the reply bound is shortened and marked."""
    events = [_event(0, 1), _event(1, 30), _event(2, 1), _event(3, 1), _event(4, 200)]
    service = _query_service(events, audit_page_bytes=2_000, audit_event_bytes=8_000)
    actor = Actor(user_id="admin", organization_id="o1", role=Role.ADMIN)
    pages: list[list[AuditEvent]] = []
    cursor: str | None = None
    while True:
        reply = await service.audit_query(
            AuditQueryRequest(actor=actor, request_id="q", cursor=cursor)
        )
        pages.append(reply.items)
        assert len(reply.model_dump_json()) <= 8_000 + 200
        cursor = reply.next_cursor
        if cursor is None:
            break
    assert [[e.id for e in page] for page in pages] == [["e0"], ["e1"], ["e2", "e3"], ["e4"]]
    assert pages[1][0] == events[1]  # over the page bound, under the reply bound: whole
    (shortened,) = pages[3]
    assert shortened.keys is not None
    assert 0 < len(shortened.keys) < 200
    assert shortened.keys == (events[4].keys or [])[: len(shortened.keys)]
    assert shortened.details is not None
    assert shortened.details["truncated"].startswith(
        f"this copy lists {len(shortened.keys)} of 200 keys"
    )
    again, size = _shortened(events[4], 8_000)
    assert again == shortened
    assert size == len(shortened.model_dump_json()) + 1 or size <= 8_000


async def test_a_filter_matching_little_reads_a_bounded_number_of_events_per_page(
    client: SecretsClient, org: str, nats_server: NatsFixture
) -> None:
    # A customer admin (or any admin) asking for an action that barely occurs used to make
    # one request read and check every event the organization ever had.
    total = AUDIT_SCAN_EVENTS * 2 + 300
    wanted = {n for n in range(total) if n % 997 == 0}
    nc = await nats_server.connect("secrets")
    log = JetStreamAuditLog(
        nc,
        nc.jetstream(),
        stream=subjects.AUDIT_STREAM,
        keyring=KeyringSource(path=nats_server.data.audit_key_file),
    )
    try:
        await log.setup()
        for start in range(0, total, 250):
            await log.append_all(
                [_rare(org, n, n in wanted) for n in range(start, min(start + 250, total))]
            )
        await log.close()
    finally:
        await nc.close()
    admin = actor(org, user="alice")
    pages: list[AuditQueryReply] = []
    cursor: str | None = None
    while True:
        page = await client.audit(admin, action="rotate", cursor=cursor, limit=1000)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    # Three pages of at most AUDIT_SCAN_EVENTS events looked at each; every match on
    # exactly one of them, in order, though the first two stop short of ``limit``.
    assert len(pages) == 3
    found = [int(e.request_id) for page in pages for e in page.items]
    assert found == sorted(wanted)
    assert all(p.next_cursor is not None for p in pages[:2])


def _rare(org: str, n: int, rare: bool) -> AuditEvent:
    return AuditEvent(
        id=uuid.uuid4().hex,
        organization_id=org,
        actor_id="u1",
        actor_role=Role.ADMIN,
        actor_customer_organization_id=None,
        action="rotate" if rare else "create",
        key=f"K{n}",
        request_id=str(n),
        outcome=AuditOutcome.SUCCESS,
        at=datetime.now(UTC),
        prev_hash="",
    )


async def test_a_page_scans_for_a_bounded_time_then_returns_a_cursor() -> None:
    """In process, with a clock that moves 0.2 s per look: large events that a filter
    skips end the page after the time bound, with a cursor, instead of after the caller
    gave up (red team: a filtered query over 797 large events timed out every time)."""
    events = [_event(n, 1) for n in range(7)]
    ticks = iter(range(1000))
    service = _query_service(events, audit_scan_seconds=0.5, monotonic=lambda: next(ticks) * 0.2)
    actor = Actor(user_id="admin", organization_id="o1", role=Role.ADMIN)
    seen: list[list[str]] = []
    cursor: str | None = None
    while True:
        reply = await service.audit_query(
            AuditQueryRequest(actor=actor, request_id="q", cursor=cursor, actor_id="nobody")
        )
        seen.append([e.id for e in reply.items])
        cursor = reply.next_cursor
        if cursor is None:
            break
    # Each page: the deadline is 0.5 s after its start; looks at 0.2, 0.4, 0.6 -> 3 events.
    assert seen == [[], [], []]
    matching = await service.audit_query(
        AuditQueryRequest(actor=actor, request_id="q", actor_id="u1", limit=100)
    )
    assert [e.id for e in matching.items] == ["e0", "e1", "e2"]
    assert matching.next_cursor == "3"
