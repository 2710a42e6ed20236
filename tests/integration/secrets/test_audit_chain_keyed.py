"""The keyed audit chain on a real nats-server: group commit, verify, tampering, rotation.

Runs on its own nats-server: several tests loosen the audit stream with the ``bootstrap``
(setup-step) user, as an attacker with those rights would, and check that
``sigil audit verify`` then fails naming the problem.
"""

import argparse
import asyncio
import hashlib
import json
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import DiscardPolicy
from pydantic import SecretStr

from sigil_cli.admin import acknowledge_lost_head, keys_rotate, verify_audit_chains
from sigil_secrets.adapters import js_audit
from sigil_secrets.adapters.audit_intake import AuditIntakeConsumer
from sigil_secrets.adapters.js_audit import JetStreamAuditLog
from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_secrets.admin import add_key
from sigil_secrets.audit_admin import record_rotation, verify_audit
from sigil_secrets.domain.audit_chain import head_of, seal_anchor
from sigil_shared import subjects
from sigil_shared.contracts import (
    OPERATOR_CHAIN,
    Actor,
    AuditEvent,
    AuditOutcome,
    Role,
    ValueUseEvent,
    ValueUseKey,
)
from sigil_shared.errors import AuditUnavailableError
from sigil_shared.settings import SecretsSettings
from tests.helpers import NatsFixture, start_nats


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsFixture]:
    fixture = start_nats(tmp_path / "nats")
    yield fixture
    fixture.server.stop()


@pytest.fixture
async def secrets_nc(private_nats: NatsFixture) -> AsyncIterator[NatsClient]:
    nc = await private_nats.connect("secrets")
    yield nc
    await nc.close()


def _settings(fx: NatsFixture) -> SecretsSettings:
    return SecretsSettings(
        kek_file=fx.data.kek_file,
        audit_key_file=fx.data.audit_key_file,
        nats_url=fx.url,
        nats_user="secrets",
        nats_password=SecretStr(fx.data.passwords()["secrets"]),
    )


async def _audit_log(fx: NatsFixture, nc: NatsClient) -> JetStreamAuditLog:
    keyring = KeyringSource(path=fx.data.audit_key_file)
    log = JetStreamAuditLog(nc, nc.jetstream(), stream=subjects.AUDIT_STREAM, keyring=keyring)
    await log.setup()
    return log


def _event(org: str, n: int) -> AuditEvent:
    return AuditEvent(
        id=uuid.uuid4().hex,
        organization_id=org,
        actor_id=f"user-{n}",
        actor_role=Role.ADMIN,
        actor_customer_organization_id=None,
        action="create",
        key=f"KEY_{n}",
        request_id=f"req-{n}",
        outcome=AuditOutcome.SUCCESS,
        at=datetime.now(UTC),
        prev_hash="",
    )


async def _loosen(fx: NatsFixture, **changes: object) -> None:
    """Change the audit stream's configuration as the setup-step user."""
    nc = await fx.connect("bootstrap")
    try:
        js = nc.jetstream()
        config = (await js.stream_info(subjects.AUDIT_STREAM)).config
        for name, value in changes.items():
            setattr(config, name, value)
        await js.update_stream(config)
    finally:
        await nc.close()


Stored = list[tuple[str, bytes]]


async def _rewrite(fx: NatsFixture, transform: Callable[[Stored], Stored]) -> None:
    """Delete the audit stream and re-create it with (transformed) contents.

    Stored messages cannot be deleted or edited in place (delete denied, and the server
    refuses to lift that), so someone with stream-management rights rewrites the stream.
    """
    nc = await fx.connect("bootstrap")
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.AUDIT_STREAM)
        stored: Stored = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(subjects.AUDIT_STREAM, seq)
            stored.append((msg.subject or "", msg.data or b""))
        await js.delete_stream(subjects.AUDIT_STREAM)
        await js.add_stream(info.config)
    finally:
        await nc.close()
    publisher = await fx.connect("secrets")  # audit events are published as the service
    try:
        for subject, data in transform(stored):
            await publisher.jetstream().publish(subject, data)
    finally:
        await publisher.close()


async def test_concurrent_appends_from_two_replicas_form_one_unforked_chain(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    org = "acme"
    other_nc = await private_nats.connect("secrets")
    try:
        replica_a = await _audit_log(private_nats, secrets_nc)
        replica_b = await _audit_log(private_nats, other_nc)
        results = await asyncio.gather(
            *((replica_a if n % 2 else replica_b).append(_event(org, n)) for n in range(200))
        )
        await replica_a.close()  # head anchors written
        await replica_b.close()
    finally:
        await other_nc.close()
    assert sorted(e.chain_seq for e in results) == list(range(1, 201))
    # Group commit: far fewer round trips than events.
    assert replica_a.round_trips + replica_b.round_trips < 200
    report = await verify_audit(_settings(private_nats), organization_id=org)
    assert report.ok, report.lines()
    (chain,) = report.chains
    assert chain.count == 200


async def test_verify_fails_on_an_event_forged_with_a_correct_unkeyed_hash(
    private_nats: NatsFixture, secrets_nc: NatsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = "forged"
    log = await _audit_log(private_nats, secrets_nc)
    head = [await log.append(_event(org, n)) for n in range(3)][-1]
    await log.close()
    # What the attack of issue 11 did: an event linked to the real head, "sealed" with
    # plain SHA-256 over its canonical JSON, published with the secrets user's rights.
    forged = _event(org, 99).model_copy(
        update={"chain_seq": 4, "prev_hash": head.hash, "key_id": head.key_id}
    )
    body = json.dumps(
        forged.model_dump(mode="json", exclude={"hash"}), sort_keys=True, separators=(",", ":")
    )
    forged = forged.model_copy(update={"hash": hashlib.sha256(body.encode()).hexdigest()})
    await secrets_nc.jetstream().publish(
        subjects.audit(org, "create"), forged.model_dump_json().encode()
    )
    # The audit API (which reads through the same adapter) never serves it.
    served = [e.id async for _, e in log.events(org, after=0)]
    assert len(served) == 3
    assert forged.id not in served
    for name, value in {
        "SIGIL_NATS_URL": private_nats.url,
        "SIGIL_NATS_USER": "secrets",
        "SIGIL_NATS_PASSWORD": private_nats.data.passwords()["secrets"],
        "SIGIL_KEK_FILE": str(private_nats.data.kek_file),
        "SIGIL_AUDIT_KEY_FILE": str(private_nats.data.audit_key_file),
    }.items():
        monkeypatch.setenv(name, value)
    outcome = await asyncio.to_thread(verify_audit_chains, private_nats.data.root, org)
    assert outcome.exit_code == 1
    text = "\n".join(outcome.lines)
    assert "forged or edited" in text
    assert forged.id in text
    assert f"audit chain of {org}: 4 events" in text
    intact = await asyncio.to_thread(verify_audit_chains, private_nats.data.root, "nobody")
    assert intact.exit_code == 0, intact.lines


async def test_verify_fails_on_an_edited_event(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    org = "edited"
    log = await _audit_log(private_nats, secrets_nc)
    events = [await log.append(_event(org, n)) for n in range(3)]
    await log.close()
    edited_id = events[1].id

    def edit(stored: Stored) -> Stored:
        out: Stored = []
        for subject, data in stored:
            event = AuditEvent.model_validate_json(data)
            if event.id == edited_id:  # someone else did it, says the edited record
                event = event.model_copy(update={"actor_id": "someone-else"})
            out.append((subject, event.model_dump_json().encode()))
        return out

    await _rewrite(private_nats, edit)
    report = await verify_audit(_settings(private_nats), organization_id=org)
    assert not report.ok
    (chain,) = report.chains
    assert [p.kind for p in chain.problems] == ["forged"]
    assert edited_id in chain.problems[0].message
    assert chain.problems[0].stream_seq == 2


async def test_verify_fails_when_a_stream_limit_dropped_events(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    org = "limited"
    log = await _audit_log(private_nats, secrets_nc)
    for n in range(6):
        await log.append(_event(org, n))
    await log.close()
    # The attack of issue 11: limits plus discard 'old' silently drop the oldest events.
    await _loosen(private_nats, max_msgs=3, discard=DiscardPolicy.OLD)
    report = await verify_audit(_settings(private_nats), organization_id=org)
    assert not report.ok
    text = "\n".join(report.lines())
    assert "max_msgs limit 3" in text
    assert "discard policy 'old'" in text
    assert "earlier events were dropped" in text
    (chain,) = report.chains
    assert [p.kind for p in chain.problems] == ["missing_head"]
    assert chain.count == 3


async def test_verify_names_a_gap_and_a_missing_head(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    log = await _audit_log(private_nats, secrets_nc)
    for org in ("gap", "head"):
        for n in range(4):
            await log.append(_event(org, n))
    await log.close()
    gap_victim = [e async for _, e in log.events("gap", after=0)][1].id
    head_victim = [e async for _, e in log.events("head", after=0)][0].id  # noqa: RUF015

    def remove(stored: Stored) -> Stored:
        victims = {gap_victim, head_victim}
        return [
            (subject, data) for subject, data in stored if json.loads(data)["id"] not in victims
        ]

    await _rewrite(private_nats, remove)
    report = await verify_audit(_settings(private_nats))
    chains = {c.organization_id: c for c in report.chains}
    assert [p.kind for p in chains["gap"].problems] == ["gap"]
    assert "positions 2..2 missing" in chains["gap"].problems[0].message
    assert [p.kind for p in chains["head"].problems] == ["missing_head"]
    assert chains["head"].count == 3


async def test_rotating_the_audit_key_keeps_old_events_verifiable_and_is_audited(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    org = "rotated"
    settings = _settings(private_nats)
    log = await _audit_log(private_nats, secrets_nc)
    before = await log.append(_event(org, 1))
    rotation = await record_rotation(
        settings, {"key": "audit", "mode": "rotate", "new_key_id": "audit-next"}
    )
    add_key(private_nats.data.audit_key_file, "audit-next")
    restarted = await _audit_log(private_nats, secrets_nc)
    after = await restarted.append(_event(org, 2))
    await log.close()
    await restarted.close()
    assert before.key_id != after.key_id == "audit-next"
    assert (rotation.organization_id, rotation.action) == (OPERATOR_CHAIN, "keys.rotate")
    report = await verify_audit(settings)
    assert report.ok, report.lines()
    chains = {c.organization_id: c for c in report.chains}
    assert chains[org].count == 2
    assert chains[OPERATOR_CHAIN].count == 1


async def test_value_use_events_from_the_intake_are_appended_and_published(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    org = "intake"
    log = await _audit_log(private_nats, secrets_nc)
    consumer = AuditIntakeConsumer(secrets_nc, log)
    published: list[bytes] = []
    platform = await private_nats.connect("platform")
    renderer = await private_nats.connect("renderer")
    try:

        async def on_msg(msg: Msg) -> None:
            published.append(msg.data)

        sub = await platform.subscribe(subjects.audit_org(org), cb=on_msg)
        await platform.flush()
        await consumer.start()
        uses = [
            ValueUseEvent(
                event_id=uuid.uuid4().hex,
                action=action,
                actor=Actor(user_id="ci", organization_id=org, role=Role.READ_ONLY),
                organization_id=org,
                customer_organization_id="cust-1",
                deployment_id="dep-1" if action == "template.render" else None,
                revision="7" if action == "template.render" else None,
                keys=[
                    ValueUseKey(
                        key="DB_PASSWORD",
                        customer_organization_id="cust-1",
                        version=2 if action == "template.render" else None,
                    )
                ],
                outcome="success",
                request_id=f"req-{action}",
                at=datetime.now(UTC),
            )
            for action in ("template.render", "template.validate")
        ]
        js = renderer.jetstream()
        for use in uses:
            # As the renderer does: JetStream publish, PubAck awaited, event id as Msg-Id.
            await js.publish(
                subjects.audit_intake(org),
                use.model_dump_json().encode(),
                headers={"Nats-Msg-Id": use.event_id},
            )
        # A redelivered/duplicate publish of the same event is stored once.
        await js.publish(
            subjects.audit_intake(org),
            uses[0].model_dump_json().encode(),
            headers={"Nats-Msg-Id": uses[0].event_id},
        )
        async with asyncio.timeout(20):
            while True:
                stored = [e async for _, e in log.events(org, after=0)]
                if len(stored) >= 2:
                    break
                await asyncio.sleep(0.05)
        await sub.unsubscribe()
    finally:
        await consumer.stop()
        await log.close()
        await platform.close()
        await renderer.close()
    assert [(e.action, e.id) for e in stored] == [(u.action, u.event_id) for u in uses]
    render = stored[0]
    assert (render.deployment_id, render.revision, render.actor_id) == ("dep-1", "7", "ci")
    assert render.keys == uses[0].keys
    assert stored[1].keys is not None
    assert stored[1].keys[0].version is None
    assert [json.loads(m)["action"] for m in published[:2]] == [u.action for u in uses]
    info = await secrets_nc.jetstream().stream_info(subjects.AUDIT_INTAKE_STREAM)
    assert info.state.messages == 0  # acked after the append: the work queue is drained
    report = await verify_audit(_settings(private_nats), organization_id=org)
    assert report.ok, report.lines()


async def test_appends_fail_closed_for_every_queued_caller_when_the_stream_refuses(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    org = "closed"
    log = await _audit_log(private_nats, secrets_nc)
    await log.append(_event(org, 0))
    info = await secrets_nc.jetstream().stream_info(subjects.AUDIT_STREAM)
    await _loosen(private_nats, max_msgs=info.state.messages)  # full, discard new: refuses
    results = await asyncio.gather(
        *(log.append(_event(org, n)) for n in range(1, 20)), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results)
    assert {type(r).__name__ for r in results} == {"AuditUnavailableError"}


def _forged_after(head: AuditEvent, n: int) -> AuditEvent:
    """An event linked to ``head`` and "sealed" with plain SHA-256: what someone with the
    service's bus rights but without the audit key can publish."""
    forged = _event(head.organization_id, n).model_copy(
        update={"chain_seq": head.chain_seq + 1, "prev_hash": head.hash, "key_id": head.key_id}
    )
    body = json.dumps(
        forged.model_dump(mode="json", exclude={"hash"}), sort_keys=True, separators=(",", ":")
    )
    return forged.model_copy(update={"hash": hashlib.sha256(body.encode()).hexdigest()})


async def test_junk_or_forged_messages_are_skipped_so_appends_go_on_and_verify_names_them(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    # Red-team F5: one junk publish on sigil.audit.<org>.* refused every command for ever.
    org = "garbage"
    log = await _audit_log(private_nats, secrets_nc)
    first = await log.append(_event(org, 0))
    await log.close()
    js = secrets_nc.jetstream()
    await js.publish(subjects.audit(org, "secret.create"), b'{"probe":1}')
    forged = _forged_after(first, 99)
    await js.publish(subjects.audit(org, "create"), forged.model_dump_json().encode())
    fresh = await _audit_log(private_nats, secrets_nc)  # a replica that reads the head
    async with asyncio.timeout(10):
        appended = [await fresh.append(_event(org, n)) for n in range(1, 4)]
    # Linked to the last event that verifies, not to the junk or the forgery.
    assert [e.chain_seq for e in appended] == [2, 3, 4]
    assert appended[0].prev_hash == first.hash
    findings = fresh.findings()
    assert list(findings) == [f"audit chain {org}"]
    assert findings[f"audit chain {org}"].startswith("degraded: ")
    assert "stream sequence 3" in findings[f"audit chain {org}"]
    assert "probe" not in str(findings)
    assert forged.id not in str(findings)
    # Junk between two appends of a replica that already knows the head: the same.
    await js.publish(subjects.audit(org, "create"), b"junk")
    later = await fresh.append(_event(org, 5))
    assert (later.chain_seq, later.prev_hash) == (5, appended[-1].hash)
    await fresh.close()
    served = [e.id async for _, e in log.events(org, after=0)]
    assert served == [first.id, *(e.id for e in appended), later.id]
    report = await verify_audit(_settings(private_nats), organization_id=org)
    (chain,) = report.chains
    assert chain.count == 8
    assert [(p.kind, p.stream_seq) for p in chain.problems] == [
        ("forged", 2),
        ("forged", 3),
        ("forged", 7),
    ]
    assert "not a readable audit event" in chain.problems[0].message
    assert forged.id in chain.problems[1].message


async def test_a_chain_ending_in_more_unverifiable_messages_than_the_bound_fails_closed(
    private_nats: NatsFixture, secrets_nc: NatsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = "flooded"
    monkeypatch.setattr(js_audit, "MAX_TAIL_SCAN", 8)
    monkeypatch.setattr(js_audit, "_TAIL_WINDOW", 4)
    log = await _audit_log(private_nats, secrets_nc)
    await log.append(_event(org, 0))
    await log.close()
    for _ in range(12):
        await secrets_nc.jetstream().publish(subjects.audit(org, "create"), b"junk")
    fresh = await _audit_log(private_nats, secrets_nc)
    async with asyncio.timeout(10):
        with pytest.raises(AuditUnavailableError):
            await fresh.append(_event(org, 1))
        # Within the bound (fewer junk messages than it) the walk back finds the head.
        monkeypatch.setattr(js_audit, "MAX_TAIL_SCAN", 100)
        appended = await fresh.append(_event(org, 1))
    assert appended.chain_seq == 2
    await fresh.close()


def _operator_env(fx: NatsFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SIGIL_NATS_URL": fx.url,
        "SIGIL_NATS_USER": "secrets",
        "SIGIL_NATS_PASSWORD": fx.data.passwords()["secrets"],
        "SIGIL_KEK_FILE": str(fx.data.kek_file),
        "SIGIL_AUDIT_KEY_FILE": str(fx.data.audit_key_file),
    }.items():
        monkeypatch.setenv(name, value)


async def test_keys_rotate_is_audited_first_and_refused_when_it_cannot_be(
    private_nats: NatsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _operator_env(private_nats, monkeypatch)
    root = private_nats.data.root
    audit_keys = private_nats.data.audit_key_file.read_text()
    rotated = await asyncio.to_thread(
        keys_rotate, argparse.Namespace(data_dir=root, rewrap_only=False, audit_key=True)
    )
    assert rotated == 0
    new_first = private_nats.data.audit_key_file.read_text().splitlines()[0]
    assert private_nats.data.audit_key_file.read_text().endswith(audit_keys)
    report = await verify_audit(_settings(private_nats), organization_id=OPERATOR_CHAIN)
    assert report.ok, report.lines()
    nc = await private_nats.connect("secrets")
    try:
        log = await _audit_log(private_nats, nc)
        (event,) = [e async for _, e in log.events(OPERATOR_CHAIN, after=0)]
        assert event.action == "keys.rotate"
        assert event.details == {
            "key": "audit",
            "mode": "rotate",
            "new_key_id": new_first.split(":")[0],
        }
        assert new_first.split(":")[1] not in event.model_dump_json()  # never key material
        info = await nc.jetstream().stream_info(subjects.AUDIT_STREAM)
    finally:
        await nc.close()
    # The audit stream refuses writes (full, discard new): the rotation must not happen.
    await _loosen(private_nats, max_msgs=info.state.messages)
    kek_before = private_nats.data.kek_file.read_text()
    refused = await asyncio.to_thread(
        keys_rotate, argparse.Namespace(data_dir=root, rewrap_only=False, audit_key=False)
    )
    assert refused == 6
    assert private_nats.data.kek_file.read_text() == kek_before


async def test_verify_names_events_cut_from_the_end_and_a_lost_chain(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    log = await _audit_log(private_nats, secrets_nc)
    for org in ("tail", "gone"):
        for n in range(5):
            await log.append(_event(org, n))
    await log.close()  # the head anchors say: 5 events each
    cut = {e.id for _, e in [item async for item in log.events("tail", after=0)][3:]}

    def truncate(stored: Stored) -> Stored:
        # The last two events of one chain and every event of the other vanish.
        kept = [(s, d) for s, d in stored if json.loads(d)["id"] not in cut]
        return [(s, d) for s, d in kept if json.loads(d)["organizationId"] != "gone"]

    await _rewrite(private_nats, truncate)
    report = await verify_audit(_settings(private_nats))
    assert not report.ok
    chains = {c.organization_id: c for c in report.chains}
    assert [p.kind for p in chains["tail"].problems] == ["missing_head"]
    assert "positions 4..5 are gone" in chains["tail"].problems[0].message
    assert chains["gone"].count == 0
    assert [p.kind for p in chains["gone"].problems] == ["missing_head"]
    assert "positions 1..5 are gone" in chains["gone"].problems[0].message


async def test_verify_flags_a_purged_head_anchor(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    org = "unanchored"
    log = await _audit_log(private_nats, secrets_nc)
    await log.append(_event(org, 0))
    await log.close()
    assert (await verify_audit(_settings(private_nats), organization_id=org)).ok
    nc = await private_nats.connect("bootstrap")
    try:
        await nc.jetstream().purge_stream(
            subjects.kv_stream(subjects.SECRETS_BUCKET),
            subject=f"$KV.{subjects.SECRETS_BUCKET}.{subjects.audit_anchor_key(org)}",
        )
    finally:
        await nc.close()
    report = await verify_audit(_settings(private_nats), organization_id=org)
    (chain,) = report.chains
    assert [p.kind for p in chain.problems] == ["anchor"]


async def test_replicas_under_sustained_load_on_one_organization_all_get_through(
    private_nats: NatsFixture,
) -> None:
    org = "busy"
    connections = [await private_nats.connect("secrets") for _ in range(3)]
    try:
        replicas = [await _audit_log(private_nats, nc) for nc in connections]
        numbers = iter(range(600))

        async def caller(log: JetStreamAuditLog) -> list[int]:
            # Each caller appends one event after another, as a stream of commands would.
            return [(await log.append(_event(org, n))).chain_seq for n in numbers]

        positions = await asyncio.gather(*(caller(replicas[i % 3]) for i in range(48)))
        for log in replicas:
            await log.close()
    finally:
        for nc in connections:
            await nc.close()
    assert sorted(p for chunk in positions for p in chunk) == list(range(1, 601))
    report = await verify_audit(_settings(private_nats), organization_id=org)
    assert report.ok, report.lines()


async def test_intake_drops_what_is_not_a_value_use_event_of_its_subject(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    log = await _audit_log(private_nats, secrets_nc)
    consumer = AuditIntakeConsumer(secrets_nc, log)
    renderer = await private_nats.connect("renderer")
    try:
        await consumer.start()
        js = renderer.jetstream()
        await js.publish(subjects.audit_intake("bad1"), b'{"not": "an event"}')
        misfiled = ValueUseEvent(
            event_id=uuid.uuid4().hex,
            action="template.validate",
            actor=Actor(user_id="x", organization_id="victim", role=Role.ADMIN),
            organization_id="victim",
            outcome="success",
            request_id="r",
            at=datetime.now(UTC),
        )
        # Filed under another organization's intake subject: never appended to either.
        await js.publish(subjects.audit_intake("bad2"), misfiled.model_dump_json().encode())
        async with asyncio.timeout(20):
            while True:  # terminated, not redelivered: the work queue empties
                info = await js.stream_info(subjects.AUDIT_INTAKE_STREAM)
                if not info.state.messages:
                    break
                await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
        await renderer.close()
    for org in ("bad1", "bad2", "victim"):
        assert [e async for _, e in log.events(org, after=0)] == []


async def test_verify_of_every_chain_streams_them_in_bounded_memory(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    # 72 MB of events of three organizations, interleaved in the stream. Verify used to
    # hold them all (8.7 GB at a million events); now each chain is checked as it streams
    # past, so memory stays at what the consumer's flow control lets in flight.
    log = await _audit_log(private_nats, secrets_nc)
    pad = "x" * 12_000
    for start in range(0, 6_000, 250):
        await log.append_all(
            [
                _event(f"big{n % 3}", n).model_copy(update={"details": {"pad": pad}})
                for n in range(start, start + 250)
            ]
        )
    await log.close()
    tracemalloc.start()
    try:
        report = await verify_audit(_settings(private_nats))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.lines()
    assert {c.organization_id: c.count for c in report.chains} == {
        "big0": 2_000,
        "big1": 2_000,
        "big2": 2_000,
    }
    assert peak < 48 * 1024 * 1024, f"verify held {peak / 2**20:.0f} MiB at its peak"


async def test_junk_after_many_events_and_other_organizations_does_not_stop_the_chain(
    private_nats: NatsFixture, secrets_nc: NatsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Red team 4: the search back for the last verifying event grew in stream sequences
    # and read forward from its window's start: an organization with more events than the
    # bound, followed by many other organizations' messages and one junk publish, had all
    # its changes refused for good. The bound and window are scaled down (10,000 -> 40).
    monkeypatch.setattr(js_audit, "MAX_TAIL_SCAN", 40)
    monkeypatch.setattr(js_audit, "_TAIL_WINDOW", 4)
    org = "large"
    log = await _audit_log(private_nats, secrets_nc)
    stored = await log.append_all([_event(org, n) for n in range(60)])
    await log.append_all([_event(f"other{n % 3}", n) for n in range(300)])
    await log.close()
    last_valid = stored[-1]
    assert isinstance(last_valid, AuditEvent)
    junk = await secrets_nc.jetstream().publish(subjects.audit(org, "create"), b"junk")
    fresh = await _audit_log(private_nats, secrets_nc)  # a replica that reads the head
    async with asyncio.timeout(20):
        appended = await fresh.append(_event(org, 60))
    await fresh.close()
    assert (appended.chain_seq, appended.prev_hash) == (61, last_valid.hash)
    assert f"stream sequence {junk.seq}" in fresh.findings()[f"audit chain {org}"]
    report = await verify_audit(_settings(private_nats), organization_id=org)
    (chain,) = report.chains
    assert chain.count == 62
    assert [(p.kind, p.stream_seq) for p in chain.problems] == [("forged", junk.seq)]
    assert "not a readable audit event" in chain.problems[0].message


def _cut_last(org: str, count: int, stored: Stored) -> Stored:
    """``stored`` without the last ``count`` events of ``org``'s chain."""
    ids = [json.loads(d)["id"] for _, d in stored if json.loads(d)["organizationId"] == org]
    cut = set(ids[-count:])
    return [(s, d) for s, d in stored if json.loads(d)["id"] not in cut]


async def test_a_chain_cut_at_its_end_refuses_appends_until_an_operator_acknowledges(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    # Red team 4: after events were cut from a chain's end, the next change overwrote the
    # head anchor and verify said "intact": the loss was erased.
    org = "cutco"
    log = await _audit_log(private_nats, secrets_nc)
    for n in range(6):
        await log.append(_event(org, n))
        await log.append(_event("bystander", n))
    await log.close()  # the head anchors are written (the log stays usable)
    await _rewrite(private_nats, lambda stored: _cut_last(org, 2, stored))
    report = await verify_audit(_settings(private_nats), organization_id=org)
    (chain,) = report.chains
    assert [p.kind for p in chain.problems] == ["missing_head"]
    assert "positions 5..6 are gone" in chain.problems[0].message

    fresh = await _audit_log(private_nats, secrets_nc)
    async with asyncio.timeout(20):
        # A replica reading the head, and the one that wrote the events (whose cached
        # head the stream no longer has), are both refused; so is a readiness-time check.
        for replica in (fresh, log):
            with pytest.raises(AuditUnavailableError) as refused:
                await replica.append(_event(org, 7))
            assert "audit chain of cutco ends at position 4" in str(refused.value)
            assert "positions 5..6 were cut" in str(refused.value)
        with pytest.raises(AuditUnavailableError):
            await fresh.writable(org)
        other = await fresh.append(_event("bystander", 7))  # other organizations go on
    assert other.chain_seq == 7
    finding = fresh.findings()[f"audit chain {org}"]
    assert finding.startswith("degraded: changes refused: ")
    assert "positions 5..6" in finding
    report = await verify_audit(_settings(private_nats), organization_id=org)
    (chain,) = report.chains
    assert [p.kind for p in chain.problems] == ["missing_head"]
    assert "positions 5..6 are gone" in chain.problems[0].message

    # The way out: an operator acknowledges the loss, as an event of the chain itself.
    async with asyncio.timeout(20):
        ack = await fresh.acknowledge_lost_head(org, actor_id="operator:test")
        assert ack is not None
        assert (ack.chain_seq, ack.action) == (5, "audit.head_lost")
        assert ack.details == {
            "anchoredPosition": "6",
            "streamPosition": "4",
            "lostPositions": "5..6",
        }
        await fresh.close()  # its anchor is written
        again = await _audit_log(private_nats, secrets_nc)
        assert await again.acknowledge_lost_head(org, actor_id="operator:test") is None
        after = await again.append(_event(org, 8))
        await again.close()
    assert (after.chain_seq, after.prev_hash) == (6, ack.hash)
    assert f"audit chain {org}" not in again.findings()
    report = await verify_audit(_settings(private_nats), organization_id=org)
    (chain,) = report.chains
    assert [p.kind for p in chain.problems] == ["missing_head"]  # the loss stays named
    assert "positions 5..6 were cut from the end of the chain" in chain.problems[0].message
    assert "operator:test acknowledged the loss" in chain.problems[0].message
    await log.close()


async def test_an_anchor_behind_the_stream_head_does_not_refuse_appends(
    private_nats: NatsFixture, secrets_nc: NatsClient
) -> None:
    # Anchors lag their chain (coalesced, or overwritten by another replica's older one):
    # only a chain that ends before its anchor is refused.
    org = "lagging"
    keyring = KeyringSource(path=private_nats.data.audit_key_file)
    log = await _audit_log(private_nats, secrets_nc)
    events = [await log.append(_event(org, n)) for n in range(5)]
    await log.close()
    older = seal_anchor(org, head_of(events[2]), keyring=keyring.get())
    anchor_subject = f"$KV.{subjects.SECRETS_BUCKET}.{subjects.audit_anchor_key(org)}"
    await secrets_nc.jetstream().publish(anchor_subject, older)
    fresh = await _audit_log(private_nats, secrets_nc)
    async with asyncio.timeout(20):
        await fresh.writable(org)
        appended = await fresh.append(_event(org, 5))
        await fresh.close()
    assert (appended.chain_seq, appended.prev_hash) == (6, events[-1].hash)
    assert fresh.findings() == {}
    report = await verify_audit(_settings(private_nats), organization_id=org)
    assert report.ok, report.lines()


async def test_the_operator_acknowledges_a_cut_chain_from_the_cli(
    private_nats: NatsFixture, secrets_nc: NatsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _operator_env(private_nats, monkeypatch)
    root = private_nats.data.root
    org = "clicut"
    log = await _audit_log(private_nats, secrets_nc)
    for n in range(4):
        await log.append(_event(org, n))
    await log.close()
    await _rewrite(private_nats, lambda stored: _cut_last(org, 1, stored))
    with pytest.raises(AuditUnavailableError):
        await (await _audit_log(private_nats, secrets_nc)).append(_event(org, 9))
    done = await asyncio.to_thread(acknowledge_lost_head, root, org)
    assert done.exit_code == 0, done.lines
    assert "the loss of positions 4..4 is recorded" in done.lines[0]
    again = await asyncio.to_thread(acknowledge_lost_head, root, org)
    assert again.lines == [f"audit chain of {org}: nothing cut, nothing to acknowledge"]
    stored = await (await _audit_log(private_nats, secrets_nc)).append(_event(org, 10))
    assert stored.chain_seq == 5  # after the acknowledgement at position 4
    report = await verify_audit(_settings(private_nats), organization_id=org)
    (chain,) = report.chains
    assert [p.kind for p in chain.problems] == ["missing_head"]  # the loss stays named
