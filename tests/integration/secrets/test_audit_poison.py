"""Hostile input on the audit chain (red-team F5, F6): junk, forgeries and poison events.

Runs on its own nats-server per test: the intake's durable consumer and the audit stream's
configuration are server-wide, and some tests break the stream on purpose.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from sigil_secrets.adapters import audit_intake, js_audit
from sigil_secrets.adapters.audit_intake import AuditIntakeConsumer
from sigil_secrets.adapters.js_audit import JetStreamAuditLog
from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_secrets.audit_admin import verify_audit
from sigil_secrets.domain.value_use import value_use_audit_event
from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import Actor, HealthRequest, Role, ValueUseEvent, ValueUseKey
from sigil_shared.errors import AuditUnavailableError
from tests.helpers import NatsFixture, start_nats, value_use_event
from tests.integration.bus_client import SecretsClient, actor, bus_as
from tests.integration.secrets.test_fail_closed import _break_audit_stream
from tests.integration.stack import running_stack, service_settings

CANARY = "canary-Poison-5521"


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[NatsFixture]:
    fixture = start_nats(tmp_path / "nats")
    yield fixture
    fixture.server.stop()


async def _audit_log(fx: NatsFixture, nc: NatsClient) -> JetStreamAuditLog:
    keyring = KeyringSource(path=fx.data.audit_key_file)
    log = JetStreamAuditLog(nc, nc.jetstream(), stream=subjects.AUDIT_STREAM, keyring=keyring)
    await log.setup()
    return log


@asynccontextmanager
async def _intake(
    fx: NatsFixture,
) -> AsyncIterator[tuple[NatsClient, NatsClient, JetStreamAuditLog, AuditIntakeConsumer]]:
    """The secrets side of the intake (its connection, audit log and consumer, not started)
    and a renderer connection to publish with; all closed afterwards."""
    secrets_nc = await fx.connect("secrets")
    renderer = await fx.connect("renderer")
    log = await _audit_log(fx, secrets_nc)
    consumer = AuditIntakeConsumer(secrets_nc, log)
    try:
        yield secrets_nc, renderer, log, consumer
    finally:
        await consumer.stop()
        await log.close()
        await renderer.close()
        await secrets_nc.close()


def _use(org: str, **changes: object) -> ValueUseEvent:
    return value_use_event(org, **{"request_id": f"req-{CANARY}", **changes})


async def _drained(nc: NatsClient) -> None:
    """Wait until the intake work queue holds nothing (acked or terminated)."""
    js = nc.jetstream()
    async with asyncio.timeout(20):
        while True:
            if not (await js.stream_info(subjects.AUDIT_INTAKE_STREAM)).state.messages:
                return
            await asyncio.sleep(0.05)


async def test_intake_refuses_forged_value_uses_and_verify_stays_intact(
    private_nats: NatsFixture, caplog: pytest.LogCaptureFixture
) -> None:
    org = "orgB"
    genuine = _use(org)
    now = datetime.now(UTC)
    forged = {
        # The red team's forge.py: an actor of another organization, backdated.
        "actor of another organization": _use(
            org,
            actor=Actor(user_id="u_orgB_admin", organization_id="orgA", role=Role.ADMIN),
            at=now - timedelta(hours=1),
            deployment_id="forgedDep",
        ),
        "customer actor using another scope": _use(
            org,
            actor=Actor(
                user_id="u_cust",
                organization_id=org,
                role=Role.ADMIN,
                customer_organization_id="custB",
            ),
            customer_organization_id="custB2",
        ),
        "key of another customer scope": _use(
            org,
            customer_organization_id="custB",
            keys=[ValueUseKey(key="K", customer_organization_id="custB2", version=1)],
        ),
        "at is too old": _use(org, at=now - timedelta(hours=1)),
        "at is in the future": _use(org, at=now + timedelta(hours=1)),
    }
    # A customer's refused attempt on another customer's scope is worth keeping.
    refused_attempt = _use(
        org,
        actor=Actor(
            user_id="u_cust",
            organization_id=org,
            role=Role.ADMIN,
            customer_organization_id="custB",
        ),
        customer_organization_id="custB2",
        keys=[],
        outcome="forbidden",
    )
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await consumer.start()
        with caplog.at_level(logging.INFO):
            for event in [genuine, *forged.values(), refused_attempt]:
                # As forge.py did: a core request on the intake subject (JetStream stores it).
                await renderer.request(
                    subjects.audit_intake(org), event.model_dump_json().encode(), timeout=5
                )
            await _drained(secrets_nc)
        stored = [e async for _, e in log.events(org, after=0)]
    assert [e.id for e in stored] == [genuine.event_id, refused_attempt.event_id]
    assert stored[0].details is not None
    received = datetime.fromisoformat(stored[0].details["receivedAt"])
    assert abs(received - genuine.at) < timedelta(seconds=30)
    assert consumer.dropped == dict.fromkeys(forged, 1)
    for reason in forged:
        assert f"refused ({reason})" in caplog.text
    assert CANARY not in caplog.text
    assert "forgedDep" not in caplog.text
    report = await verify_audit(service_settings(private_nats, "secrets"), organization_id=org)
    assert report.ok, report.lines()
    assert report.chains[0].count == 2


async def test_intake_gives_a_poison_event_up_after_bounded_redeliveries(
    private_nats: NatsFixture, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(audit_intake, "MAX_DELIVER", 3)
    monkeypatch.setattr(audit_intake, "RETRY_DELAY", 0.05)
    # A chain ending in more junk than the walk back reads refuses its appends: its
    # events are poison while the stream itself is fine.
    monkeypatch.setattr(js_audit, "MAX_TAIL_SCAN", 4)
    monkeypatch.setattr(js_audit, "_TAIL_WINDOW", 2)
    org = "poisoned"
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await log.append(value_use_audit_event(_use(org)))
        for _ in range(10):
            await secrets_nc.jetstream().publish(subjects.audit(org, "create"), b"junk")
        await consumer.start()
        with caplog.at_level(logging.INFO):
            await renderer.jetstream().publish(
                subjects.audit_intake(org), _use(org).model_dump_json().encode()
            )
            await _drained(secrets_nc)  # terminated: the work queue moves on
    assert consumer.dropped == {"not stored after every retry": 1}
    assert caplog.text.count("not stored yet") == 1  # once per event, not per retry
    assert f"event of {org} refused (not stored after every retry)" in caplog.text
    assert CANARY not in caplog.text


async def test_intake_keeps_events_through_an_audit_outage_longer_than_the_retries(
    private_nats: NatsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_intake, "MAX_DELIVER", 2)
    monkeypatch.setattr(audit_intake, "RETRY_DELAY", 0.05)
    monkeypatch.setattr(audit_intake, "MAX_RETRY_DELAY", 0.05)
    org = "outage"
    use = _use(org)
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await log.append(value_use_audit_event(_use(org)))
        await _break_audit_stream(private_nats)  # the stream refuses every event
        await consumer.start()
        await renderer.jetstream().publish(
            subjects.audit_intake(org), use.model_dump_json().encode()
        )
        js = secrets_nc.jetstream()
        async with asyncio.timeout(20):
            while True:  # well past the bound of deliveries
                info = await js.consumer_info(
                    subjects.AUDIT_INTAKE_STREAM, subjects.AUDIT_INTAKE_DURABLE
                )
                if info.num_redelivered and info.delivered.consumer_seq > 6:
                    break
                await asyncio.sleep(0.05)
        assert (await js.stream_info(subjects.AUDIT_INTAKE_STREAM)).state.messages == 1
        await _loosen_audit_stream(private_nats)  # the outage ends
        await _drained(secrets_nc)
        stored = [e.id async for _, e in log.events(org, after=0)]
    assert use.event_id in stored
    assert consumer.dropped == {}


async def test_events_failing_as_an_outage_ends_are_stored_not_given_up(
    private_nats: NatsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the bound of deliveries the stream answers again (the outage ended between the
    failed append and the check): the events get one more try instead of being dropped."""
    monkeypatch.setattr(audit_intake, "MAX_DELIVER", 1)
    org = "outage"
    use = _use(org)
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await log.append(value_use_audit_event(_use(org)))
        await _break_audit_stream(private_nats)
        real_ping = log.ping

        async def outage_ends_then_ping() -> None:
            await _loosen_audit_stream(private_nats)
            await real_ping()

        monkeypatch.setattr(log, "ping", outage_ends_then_ping)
        await consumer.start()
        await renderer.jetstream().publish(
            subjects.audit_intake(org), use.model_dump_json().encode()
        )
        await _drained(secrets_nc)
        stored = [e.id async for _, e in log.events(org, after=0)]
    assert use.event_id in stored
    assert consumer.dropped == {}


async def _loosen_audit_stream(fx: NatsFixture) -> None:
    """Undo ``_break_audit_stream`` as the setup-step user."""
    nc = await fx.connect("bootstrap")
    try:
        js = nc.jetstream()
        config = (await js.stream_info(subjects.AUDIT_STREAM)).config
        config.max_msgs = -1
        await js.update_stream(config)
    finally:
        await nc.close()


async def _kv_subjects(fx: NatsFixture, org: str) -> set[str]:
    """Every subject the secrets bucket holds for ``org`` (live, deleted or purged)."""
    nc = await fx.connect("bootstrap")
    try:
        info = await nc.jetstream().stream_info(
            subjects.kv_stream(subjects.SECRETS_BUCKET),
            subjects_filter=f"$KV.{subjects.SECRETS_BUCKET}.o.{org}.>",
        )
    finally:
        await nc.close()
    return set(info.state.subjects or {})


async def test_junk_on_the_chain_leaves_commands_working_and_health_degraded_not_unready(
    private_nats: NatsFixture,
) -> None:
    org = "acme"
    admin = actor(org)
    async with (
        running_stack(private_nats) as stack,
        bus_as(private_nats, "gateway") as broker,
    ):
        client = SecretsClient(broker)
        await client.create(admin, "BEFORE", CANARY)
        # Red-team F5: the secrets user publishes junk on the organization's audit subject.
        secrets_nc = await private_nats.connect("secrets")
        try:
            await secrets_nc.publish(subjects.audit(org, "secret.create"), b'{"probe":1}')
            await secrets_nc.flush()
        finally:
            await secrets_nc.close()
        after = await client.create(admin, "AFTER_FORGE", CANARY + "-2")
        await client.update(admin, after.id, CANARY + "-3")
        health = await request(broker, ops.health("secrets"), HealthRequest(), timeout=5)
        assert health.ready is True
        finding = health.checks[f"audit chain {org}"]
        assert finding.startswith("degraded: ")
        assert "probe" not in finding
        ready = await stack.http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["secrets"].startswith("degraded: ")
        assert f"audit chain {org}" in ready.json()["checks"]["secrets"]
        events = await client.audit(admin)
        assert [e.action for e in events.items] == ["create", "create", "update"]
    report = await verify_audit(service_settings(private_nats, "secrets"), organization_id=org)
    (chain,) = report.chains
    assert [(p.kind, p.stream_seq) for p in chain.problems] == [("forged", 2)]
    assert chain.count == 4


async def test_a_change_refused_for_its_audit_event_leaves_nothing_in_the_store(
    private_nats: NatsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(js_audit, "PING_TTL", 0.0)  # no wait for the next stream check
    org = "acme"
    admin = actor(org)
    async with (
        running_stack(private_nats, services=("secrets",)),
        bus_as(private_nats, "gateway") as broker,
    ):
        client = SecretsClient(broker)
        kept = await client.create(admin, "KEPT", CANARY)
        before = await _kv_subjects(private_nats, org)
        await _break_audit_stream(private_nats)
        with pytest.raises(AuditUnavailableError):
            await client.create(admin, "REFUSED_KEY", CANARY + "-new")
        with pytest.raises(AuditUnavailableError):
            await client.update(admin, kept.id, CANARY + "-2")
        with pytest.raises(AuditUnavailableError):
            await client.delete(admin, kept.id, force=True)
        assert await _kv_subjects(private_nats, org) == before
        detail = await client.get(admin, kept.id)
        assert [v.version for v in detail.versions] == [1]
    assert not any("REFUSED_KEY" in s for s in before)


async def test_a_repeated_intake_event_is_stored_once_and_verify_stays_intact(
    private_nats: NatsFixture,
) -> None:
    """The red team's dup.py: the same value-use event twice on the intake. The audit stream
    keeps it once (its id is the message id); the head anchor must follow the stream, not the
    position the duplicate was sealed at, or verify reports a lost head (a false alarm)."""
    org = "orgB"
    event = _use(org)
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await consumer.start()
        for _ in range(2):
            await renderer.request(
                subjects.audit_intake(org), event.model_dump_json().encode(), timeout=5
            )
            await _drained(secrets_nc)
        stored = [e async for _, e in log.events(org, after=0)]
    assert [e.id for e in stored] == [event.event_id]
    report = await verify_audit(service_settings(private_nats, "secrets"), organization_id=org)
    assert report.ok, report.lines()
    assert report.chains[0].count == 1
