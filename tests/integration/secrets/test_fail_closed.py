"""Audit fails closed: when audit records cannot be written, nothing changes and health says so.

Runs on its own nats-server because it breaks the (server-wide) audit stream on purpose.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js.api import DiscardPolicy

from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import HealthRequest
from sigil_shared.errors import AuditUnavailableError
from tests.helpers import NatsFixture, start_nats
from tests.integration.bus_client import SecretsClient, actor, bus_as
from tests.integration.stack import running_stack

CANARY = "canary-FailClosed-991"


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[NatsFixture]:
    fixture = start_nats(tmp_path / "nats")
    yield fixture
    fixture.server.stop()


async def _break_audit_stream(nats_fixture: NatsFixture) -> None:
    """Make the audit stream refuse new events (full, discard new) — a real write failure."""
    # Only the setup step's user may change a stream (runtime users hold no such right).
    password = nats_fixture.data.passwords()["bootstrap"]
    nc = await nats.connect(
        nats_fixture.url, user="bootstrap", password=password, inbox_prefix="_INBOX.bootstrap"
    )
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.AUDIT_STREAM)
        config = info.config
        config.max_msgs = info.state.messages
        config.discard = DiscardPolicy.NEW
        await js.update_stream(config)
    finally:
        await nc.close()


async def test_changes_are_refused_when_audit_cannot_be_written(
    private_nats: NatsFixture,
) -> None:
    org = "acme"
    admin = actor(org)
    async with (
        running_stack(private_nats, services=("secrets", "renderer", "redactor")) as stack,
        bus_as(private_nats, "gateway") as broker,
    ):
        assert (await stack.http.get("/readyz")).status_code == 200
        client = SecretsClient(broker)
        kept = await client.create(admin, "KEPT", CANARY)
        await _break_audit_stream(private_nats)

        with pytest.raises(AuditUnavailableError) as info:
            await client.create(admin, "NEW_KEY", CANARY)
        assert CANARY not in info.value.message
        with pytest.raises(AuditUnavailableError):
            await client.update(admin, kept.id, CANARY + "-2")
        with pytest.raises(AuditUnavailableError):
            await client.delete(admin, kept.id)

        listed = await client.list(admin)
        assert [(i.key, i.version) for i in listed.items] == [("KEPT", 1)]
        detail = await client.get(admin, kept.id)
        assert [v.version for v in detail.versions] == [1]

        health = await request(broker, ops.health("secrets"), HealthRequest(), timeout=5)
        assert health.ready is False
        assert health.checks["audit"] != "ok"
        ready = await stack.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["message"] == "not ready: secrets"
        assert "audit" in ready.json()["error"]["details"]["checks"]["secrets"]
        audit_events = await client.audit(admin)
        assert [e.action for e in audit_events.items] == ["create"]
