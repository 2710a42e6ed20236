"""Batched intake messages (a JSON array of one organization's value-use events): each event
is stored once on the keyed chain, a bad element is dropped alone, a retry stores nothing twice.

Runs on its own nats-server per test, like test_audit_poison: the intake's durable consumer
and the audit stream's configuration are server-wide.
"""

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import DiscardPolicy
from nats.js.errors import Error as JsError

from sigil_secrets.adapters import audit_intake, js_audit
from sigil_secrets.adapters.js_audit import JetStreamAuditLog
from sigil_secrets.audit_admin import verify_audit
from sigil_secrets.domain.value_use import value_use_audit_event
from sigil_shared import subjects
from sigil_shared.contracts import Actor, Role, ValueUseEvent, ValueUseKey, encode_value_use_batch
from sigil_shared.contracts.audit import MAX_VALUE_USE_KEYS, MAX_VALUE_USE_MESSAGE_BYTES
from sigil_shared.errors import AuditUnavailableError
from tests.helpers import NatsFixture, start_nats
from tests.integration.secrets.test_audit_poison import (
    CANARY,
    _drained,
    _intake,
    _loosen_audit_stream,
    _use,
)
from tests.integration.stack import service_settings


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[NatsFixture]:
    fixture = start_nats(tmp_path / "nats")
    yield fixture
    fixture.server.stop()


async def _publish(renderer: NatsClient, org: str, body: bytes, msg_id: str | None = None) -> None:
    """One intake message as the renderer sends it (JetStream publish, awaited PubAck)."""
    ack = await renderer.jetstream().publish(
        subjects.audit_intake(org),
        body,
        stream=subjects.AUDIT_INTAKE_STREAM,
        headers={"Nats-Msg-Id": msg_id or uuid.uuid4().hex},
    )
    assert not ack.duplicate


async def _fill_audit_stream_at(fx: NatsFixture, *, room: int) -> None:
    """Let the audit stream take ``room`` more events, then refuse (as the setup user)."""
    nc = await fx.connect("bootstrap")
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.AUDIT_STREAM)
        config = info.config
        config.max_msgs = info.state.messages + room
        config.discard = DiscardPolicy.NEW
        await js.update_stream(config)
    finally:
        await nc.close()


async def _stored_ids(log: JetStreamAuditLog, org: str) -> list[str]:
    return [e.id async for _, e in log.events(org, after=0)]


async def _verified_count(fx: NatsFixture, org: str) -> int:
    """The number of events of ``org``'s chain, after ``sigil audit verify``'s checks pass."""
    report = await verify_audit(service_settings(fx, "secrets"), organization_id=org)
    assert report.ok, report.lines()
    (chain,) = report.chains
    return chain.count


def _array(elements: Sequence[ValueUseEvent | dict[str, object]]) -> bytes:
    return json.dumps(
        [e if isinstance(e, dict) else json.loads(e.model_dump_json()) for e in elements]
    ).encode()


async def test_a_batch_is_stored_as_one_chain_event_per_element(
    private_nats: NatsFixture,
) -> None:
    org = "acme"
    events = [_use(org) for _ in range(50)]
    body, msg_id = encode_value_use_batch(events)
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await consumer.start()
        await _publish(renderer, org, body, msg_id)
        await _drained(secrets_nc)
        assert await _stored_ids(log, org) == [e.event_id for e in events]
        assert log.round_trips < len(events)  # group-committed, not one publish per event
    assert consumer.dropped == {}
    assert await _verified_count(private_nats, org) == len(events)


async def test_forged_and_invalid_elements_are_dropped_and_the_rest_of_the_batch_stored(
    private_nats: NatsFixture, caplog: pytest.LogCaptureFixture
) -> None:
    org = "orgB"
    genuine = [_use(org) for _ in range(10)]
    forged = _use(
        org,
        actor=Actor(user_id="u_orgB_admin", organization_id="orgA", role=Role.ADMIN),
        deployment_id="forgedDep",
    )
    invalid = json.loads(_use(org, deployment_id="junkDep").model_dump_json())
    invalid["smuggled"] = CANARY
    body = _array([*genuine[:4], forged, *genuine[4:7], invalid, *genuine[7:]])
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await consumer.start()
        with caplog.at_level(logging.INFO):
            await _publish(renderer, org, body)
            await _drained(secrets_nc)
        assert await _stored_ids(log, org) == [e.event_id for e in genuine]
    assert consumer.dropped == {"actor of another organization": 1, "not a value-use event": 1}
    assert "event of orgB refused (actor of another organization)" in caplog.text
    assert "refused (not a value-use event)" in caplog.text
    for content in (CANARY, "forgedDep", "junkDep", forged.event_id, "u_orgB_admin"):
        assert content not in caplog.text
    assert await _verified_count(private_nats, org) == len(genuine)


async def test_a_batch_published_twice_under_two_message_ids_is_stored_once(
    private_nats: NatsFixture,
) -> None:
    """The intake keeps both messages (different Nats-Msg-Id); the audit stream de-duplicates
    on the event ids. The second copy overlaps the first only in part (a publisher that
    coalesced its retry with new renders), and is appended as one atomic batch, which the
    server refuses for its duplicates: the audit log then stores the rest one by one."""
    org = "orgB"
    events = [_use(org) for _ in range(30)]
    first, _ = encode_value_use_batch(events[:20])
    again, _ = encode_value_use_batch(events[10:])
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await consumer.start()
        await _publish(renderer, org, first, "first-copy")
        await _drained(secrets_nc)
        log._single_rtt = 1.0
        await _publish(renderer, org, again, "second-copy")
        await _drained(secrets_nc)
        assert await _stored_ids(log, org) == [e.event_id for e in events]
    assert consumer.dropped == {}
    assert await _verified_count(private_nats, org) == len(events)


async def test_intake_events_are_committed_as_one_batch_even_when_singles_look_quicker(
    private_nats: NatsFixture,
) -> None:
    """No request waits on the intake's appends, so they are grouped for the least work:
    two events are one atomic batch, where a command's two appends would go one by one
    (the latency rule: two quick singles beat one batch that the server syncs to disk)."""
    org = "acme"
    events = [_use(org) for _ in range(2)]
    body, msg_id = encode_value_use_batch(events)
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        log._single_rtt, log._batch_rtt = 0.0001, 1.0  # singles look ten thousand times quicker
        await consumer.start()
        await _publish(renderer, org, body, msg_id)
        await _drained(secrets_nc)
        assert await _stored_ids(log, org) == [e.event_id for e in events]
        assert log.round_trips == 1
        commands = [value_use_audit_event(_use(org)) for _ in range(2)]
        await asyncio.gather(*map(log.append, commands))
        assert log.round_trips == 3  # the same rule for appends a request waits on: singles
    assert await _verified_count(private_nats, org) == 4


async def test_intake_messages_arriving_apart_share_one_commit(
    private_nats: NatsFixture,
) -> None:
    """The server's cost of an atomic batch is mostly per batch, so a commit of intake
    events waits a moment for more: three messages published 100 ms apart are stored as one
    batch while the commit lingers (without the linger each would be committed alone)."""
    org = "acme"
    events = [_use(org) for _ in range(6)]
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        log._linger_seconds = 1.0
        await consumer.start()
        for start in range(0, 6, 2):
            body, msg_id = encode_value_use_batch(events[start : start + 2])
            await _publish(renderer, org, body, msg_id)
            await asyncio.sleep(0.1)
        await _drained(secrets_nc)
        assert await _stored_ids(log, org) == [e.event_id for e in events]
        assert log.round_trips == 1
    assert consumer.dropped == {}
    assert await _verified_count(private_nats, org) == len(events)


async def test_the_intake_holds_a_bounded_number_of_bytes_while_commits_linger(
    private_nats: NatsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fetching on while commits linger is bounded by bytes as well as messages (an intake
    message may be 1 MiB): at the bound the loop waits for a commit before fetching more."""
    monkeypatch.setattr(audit_intake, "MAX_IN_FLIGHT_BYTES", 1)
    org = "acme"
    events = [_use(org) for _ in range(6)]
    async with _intake(private_nats) as (secrets_nc, renderer, log, _consumer):
        log._linger_seconds = 1.0
        for start in range(0, 6, 2):
            body, msg_id = encode_value_use_batch(events[start : start + 2])
            await _publish(renderer, org, body, msg_id)
        consumer = audit_intake.AuditIntakeConsumer(secrets_nc, log, batch=1)
        await consumer.start()
        try:
            await asyncio.sleep(0.3)  # the first commit lingers for a second
            info = await secrets_nc.jetstream().consumer_info(
                subjects.AUDIT_INTAKE_STREAM, subjects.AUDIT_INTAKE_DURABLE
            )
            assert info.num_ack_pending == 1  # one message held, the others left on the server
            await _drained(secrets_nc)
        finally:
            await consumer.stop()
        assert await _stored_ids(log, org) == [e.event_id for e in events]


async def test_the_intake_stream_refuses_a_message_larger_than_a_renderer_sends(
    private_nats: NatsFixture,
) -> None:
    """The renderer splits at MAX_VALUE_USE_MESSAGE_BYTES; the stream refuses anything
    larger (the server would take 4 MiB), so no credential can hand the secrets service
    messages it must hold by the megabyte."""
    org = "acme"
    renderer = await private_nats.connect("renderer")
    try:
        with pytest.raises(JsError):
            await renderer.jetstream().publish(
                subjects.audit_intake(org),
                b"[" + b" " * (MAX_VALUE_USE_MESSAGE_BYTES + 20 * 1024) + b"]",
                stream=subjects.AUDIT_INTAKE_STREAM,
            )
        # The largest message a renderer sends is still taken.
        ack = await renderer.jetstream().publish(
            subjects.audit_intake(org),
            b"[" + b" " * (MAX_VALUE_USE_MESSAGE_BYTES - 2) + b"]",
            stream=subjects.AUDIT_INTAKE_STREAM,
        )
        assert ack.seq
    finally:
        await renderer.close()


async def test_an_append_a_caller_waits_on_ends_the_linger_of_queued_intake_events(
    private_nats: NatsFixture,
) -> None:
    """A command's audit event is never held back by background events lingering: it is
    committed at once, with them, in chain order."""
    org = "acme"
    background = [value_use_audit_event(_use(org)) for _ in range(3)]
    command = value_use_audit_event(_use(org))
    async with _intake(private_nats) as (_, _renderer, log, _consumer):
        log._linger_seconds = 60.0
        queued = asyncio.ensure_future(log.append_all(background, background=True))
        await asyncio.sleep(0.05)
        assert not queued.done()  # lingering
        async with asyncio.timeout(10):  # far less than the linger
            await log.append(command)
            assert all(not isinstance(e, BaseException) for e in await queued)
        assert await _stored_ids(log, org) == [e.id for e in [*background, command]]
    assert await _verified_count(private_nats, org) == 4


async def test_an_atomic_batch_holding_stored_events_stores_the_others_once(
    private_nats: NatsFixture,
) -> None:
    """js_audit on its own: a group commit with events the stream already holds."""
    org = "acme"
    events = [value_use_audit_event(_use(org)) for _ in range(12)]
    async with _intake(private_nats) as (_, _renderer, log, _consumer):
        log._single_rtt = 1.0
        await asyncio.gather(*map(log.append, events[:6]))
        round_trips = log.round_trips
        assert round_trips == 1
        await asyncio.gather(*map(log.append, events[3:]))
        assert log.round_trips > round_trips + 1  # refused as a batch, then one by one
        assert await _stored_ids(log, org) == [e.id for e in events]
    assert await _verified_count(private_nats, org) == len(events)


async def test_a_batch_naming_another_organization_is_dropped_whole(
    private_nats: NatsFixture,
) -> None:
    events = [_use("orgA") for _ in range(3)]
    body, msg_id = encode_value_use_batch(events)
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await consumer.start()
        await _publish(renderer, "orgB", body, msg_id)  # filed under orgB
        await _drained(secrets_nc)  # terminated, not redelivered
        assert await _stored_ids(log, "orgA") == []
        assert await _stored_ids(log, "orgB") == []
    assert consumer.dropped == {"filed under another organization": 3}


async def test_a_batch_partly_stored_when_the_audit_stream_filled_up_is_stored_once_each(
    private_nats: NatsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Room for five of ten events before the stream refuses more: the message is
    redelivered until the outage ends, whatever was stored before is not stored again, and
    the forged element is counted once, not once per delivery."""
    monkeypatch.setattr(audit_intake, "RETRY_DELAY", 0.05)
    monkeypatch.setattr(audit_intake, "MAX_RETRY_DELAY", 0.05)
    org = "outage"
    events = [_use(org) for _ in range(10)]
    forged = _use(org, actor=Actor(user_id="u", organization_id="orgA", role=Role.ADMIN))
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await log.append(value_use_audit_event(_use(org)))
        before = await _stored_ids(log, org)
        await _fill_audit_stream_at(private_nats, room=5)
        await consumer.start()
        await _publish(renderer, org, _array([forged, *events]))
        js = secrets_nc.jetstream()
        async with asyncio.timeout(20):
            while True:  # redelivered a few times, still queued
                info = await js.consumer_info(
                    subjects.AUDIT_INTAKE_STREAM, subjects.AUDIT_INTAKE_DURABLE
                )
                if info.num_redelivered and info.delivered.consumer_seq > 4:
                    break
                await asyncio.sleep(0.05)
        # A background batch is one atomic commit, so the outage stores none of it (one
        # publish at a time, on a stream without atomic batches, would store five): a
        # prefix either way, never a gap.
        during = await _stored_ids(log, org)
        assert during[: len(before)] == before
        assert during[len(before) :] == [e.event_id for e in events][: len(during) - len(before)]
        await _loosen_audit_stream(private_nats)
        await _drained(secrets_nc)
        assert await _stored_ids(log, org) == before + [e.event_id for e in events]
    assert consumer.dropped == {"actor of another organization": 1}
    assert await _verified_count(private_nats, org) == len(events) + 1


async def test_the_largest_event_is_stored_and_an_oversized_one_cannot_stop_the_service(
    private_nats: NatsFixture,
) -> None:
    """Red team N1: one intake event of ~4 MiB (3,900 keys of 1,024 characters) sealed into
    an audit event larger than a bus message made the server close the secrets service's
    connection, for every organization, on every redelivery. Key names are now at most
    256 characters and an event names at most MAX_VALUE_USE_KEYS keys: the largest event
    allowed is stored, the oversized one is refused (by the intake stream, which takes at most
    about 1 MiB, or by the service, past MAX_VALUE_USE_KEYS), and the service keeps working."""
    org = "acme"
    largest = _use(
        org,
        keys=[
            ValueUseKey(key=f"K{i:04d}".ljust(256, "x"), version=10**9)
            for i in range(MAX_VALUE_USE_KEYS)
        ],
    )
    attack = json.loads(_use(org).model_dump_json())
    attack["keys"] = [{"key": f"K{i:04d}".ljust(1024, "x"), "version": 1} for i in range(3900)]
    # The same count of short names fits a message: the service refuses it itself.
    too_many = json.loads(_use(org).model_dump_json())
    too_many["keys"] = [{"key": f"K{i:04d}", "version": 1} for i in range(3900)]
    after = _use(org)
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        await consumer.start()
        with pytest.raises(JsError):  # ~4 MiB: the intake stream takes at most ~1 MiB
            await _publish(renderer, org, json.dumps(attack).encode())
        await _publish(renderer, org, json.dumps(too_many).encode())
        await _publish(renderer, org, largest.model_dump_json().encode())
        await _publish(renderer, org, after.model_dump_json().encode())
        await _drained(secrets_nc)
        assert await _stored_ids(log, org) == [largest.event_id, after.event_id]
        assert secrets_nc.is_connected
    assert consumer.dropped == {"not a value-use event": 1}
    assert await _verified_count(private_nats, org) == 2


async def test_a_refused_message_does_not_let_a_later_one_overtake_a_large_one(
    private_nats: NatsFixture,
) -> None:
    """A large message is decoded in a worker thread; a refused message after it (junk)
    must not end its turn before the large one queued its events, or the message after
    the junk is stored first."""
    org = "acme"
    large = [
        _use(
            org,
            keys=[ValueUseKey(key=f"K{n}_{i:03d}".ljust(200, "x"), version=1) for i in range(400)],
        )
        for n in range(8)
    ]
    after = _use(org)
    async with _intake(private_nats) as (secrets_nc, renderer, log, consumer):
        body, _ = encode_value_use_batch(large)
        await _publish(renderer, org, body)
        await _publish(renderer, org, b"not json")
        await _publish(renderer, org, after.model_dump_json().encode())
        await consumer.start()  # all three in one fetch
        await _drained(secrets_nc)
        assert await _stored_ids(log, org) == [e.event_id for e in [*large, after]]
    assert consumer.dropped == {"not a value-use event": 1}


async def test_an_audit_event_too_large_for_a_bus_message_is_refused_before_it_is_sent(
    private_nats: NatsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the contracts allow, the audit log never publishes what the server would
    answer by closing the connection: such an append fails alone, nothing is stored."""
    org = "acme"
    async with _intake(private_nats) as (secrets_nc, _renderer, log, _consumer):
        monkeypatch.setattr(js_audit, "_HEADER_ROOM", secrets_nc.max_payload - 100)
        with pytest.raises(AuditUnavailableError):
            await log.append(value_use_audit_event(_use(org)))
        assert secrets_nc.is_connected
        monkeypatch.setattr(js_audit, "_HEADER_ROOM", 4096)
        stored = await log.append(value_use_audit_event(_use(org)))
        assert await _stored_ids(log, org) == [stored.id]
