"""The keyed audit chain: sealing, and verification naming forgery, edits, gaps and heads."""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sigil_cli.embedded import DataDir
from sigil_secrets.domain.audit_chain import (
    LOST_HEAD_ACTION,
    ChainHead,
    ChainReport,
    ChainVerifier,
    StoredEvent,
    anchored_position,
    check_anchor,
    continues_chain,
    head_of,
    seal_anchor,
    seal_events,
    trusted_anchor,
    verify_chain,
)
from sigil_secrets.domain.crypto import Keyring
from sigil_secrets.domain.value_use import (
    MAX_AGE,
    MAX_FUTURE_SKEW,
    value_use_audit_event,
    value_use_problem,
)
from sigil_shared.contracts import (
    Actor,
    AuditEvent,
    AuditOutcome,
    Role,
    ValueUseEvent,
    ValueUseKey,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ORG = "acme"
PREFIX = f"sigil.audit.{ORG}."
KEY_A = "a1:" + base64.b64encode(b"A" * 32).decode()
KEY_B = "b2:" + base64.b64encode(b"B" * 32).decode()


def _event(n: int) -> AuditEvent:
    return AuditEvent(
        id=f"e{n}",
        organization_id=ORG,
        actor_id="u",
        actor_role=Role.ADMIN,
        actor_customer_organization_id=None,
        action="create",
        key=f"K{n}",
        request_id=f"r{n}",
        outcome=AuditOutcome.SUCCESS,
        at=NOW,
        prev_hash="",
    )


def _stored(events: list[AuditEvent], start: int = 1) -> list[StoredEvent]:
    return [
        StoredEvent(start + i, PREFIX + e.action, e.model_dump_json().encode())
        for i, e in enumerate(events)
    ]


def _chain(n: int, keyring: Keyring) -> list[AuditEvent]:
    return seal_events([_event(i) for i in range(n)], head=ChainHead(), keyring=keyring)


def _verify(items: list[StoredEvent], keys: str = KEY_A) -> ChainReport:
    return verify_chain(ORG, items, keyring=Keyring.parse(keys), subject_prefix=PREFIX)


def test_intact_chain_verifies_with_sequences_and_count() -> None:
    report = _verify(_stored(_chain(5, Keyring.parse(KEY_A)), start=10))
    assert report.intact, report.problems
    assert (report.first_seq, report.last_seq, report.count) == (10, 14, 5)


def test_forged_event_with_a_correct_unkeyed_sha256_fails() -> None:
    events = _chain(3, Keyring.parse(KEY_A))
    # An attacker without the audit key appends an event and "seals" it the old way:
    # plain SHA-256 over the canonical JSON, linked to the real head.
    forged = _event(99).model_copy(
        update={"chain_seq": 4, "prev_hash": events[-1].hash, "key_id": "a1", "hash": ""}
    )
    body = json.dumps(
        forged.model_dump(mode="json", exclude={"hash"}), sort_keys=True, separators=(",", ":")
    )
    forged = forged.model_copy(update={"hash": hashlib.sha256(body.encode()).hexdigest()})
    report = _verify(_stored([*events, forged]))
    assert [p.kind for p in report.problems] == ["forged"]
    assert report.problems[0].stream_seq == 4
    assert "e99" in report.problems[0].message


def test_edited_event_fails_naming_its_sequence() -> None:
    events = _chain(5, Keyring.parse(KEY_A))
    events[2] = events[2].model_copy(update={"actor_id": "someone-else"})
    report = _verify(_stored(events))
    assert [p.kind for p in report.problems] == ["forged"]
    assert report.problems[0].stream_seq == 3


def test_removed_event_is_a_gap() -> None:
    events = _chain(5, Keyring.parse(KEY_A))
    del events[1]
    report = _verify(_stored(events))
    assert [p.kind for p in report.problems] == ["gap"]
    assert "positions 2..2 missing" in report.problems[0].message


def test_removed_first_events_are_a_missing_head() -> None:
    events = _chain(5, Keyring.parse(KEY_A))
    report = _verify(_stored(events[2:], start=3))
    assert [p.kind for p in report.problems] == ["missing_head"]


def test_reordered_or_relinked_event_breaks_the_link() -> None:
    keyring = Keyring.parse(KEY_A)
    events = _chain(3, keyring)
    # Re-sealed by the key holder onto the wrong predecessor: verifies alone, not linked.
    (wrong,) = seal_events([_event(7)], head=ChainHead("f" * 64, 3), keyring=keyring)
    report = _verify(_stored([*events, wrong]))
    assert [p.kind for p in report.problems] == ["broken_link"]


def test_rotated_audit_key_keeps_old_events_verifiable() -> None:
    old = _chain(2, Keyring.parse(KEY_A))
    rotated = Keyring.parse(f"{KEY_B}\n{KEY_A}")
    head = ChainHead(old[-1].hash, old[-1].chain_seq)
    new = seal_events([_event(5), _event(6)], head=head, keyring=rotated)
    assert {e.key_id for e in new} == {"b2"}
    assert _verify(_stored([*old, *new]), keys=f"{KEY_B}\n{KEY_A}").intact
    retired = _verify(_stored([*old, *new]), keys=KEY_B)
    assert {p.kind for p in retired.problems} == {"unknown_key"}


def test_event_of_another_organization_is_misfiled() -> None:
    events = _chain(2, Keyring.parse(KEY_A))
    moved = events[1].model_copy(update={"organization_id": "other"})
    report = _verify(_stored([events[0], moved]))
    assert [p.kind for p in report.problems] == ["misfiled"]


def test_value_use_becomes_a_chain_event_without_values() -> None:
    use = ValueUseEvent(
        event_id="ab" * 16,
        action="template.render",
        actor=Actor(user_id="u", organization_id=ORG, role=Role.READ_ONLY),
        organization_id=ORG,
        customer_organization_id="c1",
        deployment_id="d1",
        revision="3",
        keys=[ValueUseKey(key="DB_PASSWORD", customer_organization_id="c1", version=2)],
        outcome="template_execution_error",
        request_id="r1",
        at=NOW,
    )
    event = value_use_audit_event(use)
    assert (event.id, event.action, event.outcome) == (use.event_id, "template.render", "failed")
    assert event.error_code == "template_execution_error"
    assert event.keys == use.keys
    (sealed,) = seal_events([event], head=ChainHead(), keyring=Keyring.parse(KEY_A))
    assert _verify(_stored([sealed])).intact


def test_data_dir_creates_a_private_audit_keyring_once(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.prepare()
    assert data.audit_key_file.stat().st_mode & 0o777 == 0o600
    first = data.audit_key_file.read_text()
    keyring = Keyring.parse(first)
    assert keyring.current.startswith("audit-")
    assert (
        keyring.keys[keyring.current] not in Keyring.parse(data.kek_file.read_text()).keys.values()
    )
    data.prepare()
    assert data.audit_key_file.read_text() == first


def test_head_anchor_catches_events_cut_from_the_end_and_forged_anchors() -> None:
    keyring = Keyring.parse(KEY_A)
    events = _chain(5, keyring)
    anchor = seal_anchor(ORG, ChainHead(events[-1].hash, 5), keyring=keyring)
    whole = _verify(_stored(events))
    check_anchor(whole, anchor, keyring=keyring)
    assert whole.intact, whole.problems
    cut = _verify(_stored(events[:3]))
    check_anchor(cut, anchor, keyring=keyring)
    assert [p.kind for p in cut.problems] == ["missing_head"]
    forged = json.loads(anchor)
    forged["chainSeq"] = 3
    relabelled = _verify(_stored(events[:3]))
    check_anchor(relabelled, json.dumps(forged).encode(), keyring=keyring)
    assert [p.kind for p in relabelled.problems] == ["anchor"]
    other_org = _verify(_stored(events))
    check_anchor(
        other_org,
        seal_anchor("other", ChainHead(events[-1].hash, 5), keyring=keyring),
        keyring=keyring,
    )
    assert [p.kind for p in other_org.problems] == ["anchor"]
    missing = _verify(_stored(events))
    check_anchor(missing, None, keyring=keyring)
    assert [p.kind for p in missing.problems] == ["anchor"]


def test_a_streamed_chain_keeps_only_the_anchored_link_and_still_checks_it() -> None:
    keyring = Keyring.parse(KEY_A)
    events = _chain(6, keyring)
    # An anchor at position 4 of another chain of the same length: same positions, other
    # links (what a rewritten chain would show).
    other = seal_events([_event(i + 100) for i in range(6)], head=ChainHead(), keyring=keyring)
    for anchor, problems in (
        (seal_anchor(ORG, head_of(events[3]), keyring=keyring), []),
        (seal_anchor(ORG, head_of(other[3]), keyring=keyring), ["broken_link"]),
    ):
        position = anchored_position(ORG, anchor, keyring=keyring)
        assert position == 4
        verifier = ChainVerifier(ORG, keyring=keyring, subject_prefix=PREFIX, keep_link=position)
        for item in _stored(events):
            verifier.add(item)
        assert list(verifier.report.links) == [4]  # one link held, not one per event
        check_anchor(verifier.report, anchor, keyring=keyring)
        assert [p.kind for p in verifier.report.problems] == problems
    assert anchored_position(ORG, None, keyring=keyring) is None
    assert anchored_position("other", anchor, keyring=keyring) is None  # refused later


def test_junk_between_events_is_reported_and_the_chain_goes_on_from_the_last_verified() -> None:
    keyring = Keyring.parse(KEY_A)
    before = _chain(2, keyring)
    # A writer skips junk and links the next event to the last one that verifies.
    after = seal_events([_event(7)], head=head_of(before[-1]), keyring=keyring)
    junk = StoredEvent(3, PREFIX + "secret.create", b'{"probe":1}')
    report = _verify([*_stored(before), junk, *_stored(after, start=4)])
    assert [(p.kind, p.stream_seq) for p in report.problems] == [("forged", 3)]
    assert report.head == head_of(after[-1])
    # One junk message may stand for one edited event (its position then taken), not more.
    wrong = seal_events([_event(8)], head=ChainHead("f" * 64, 4), keyring=keyring)
    broken = _verify([*_stored(before), junk, *_stored(wrong, start=4)])
    assert [p.kind for p in broken.problems] == ["forged", "gap"]


def test_writers_continue_only_from_sealed_events_of_their_own_organization() -> None:
    keyring = Keyring.parse(KEY_A)
    (event,) = _chain(1, keyring)
    assert continues_chain(event, ORG, keyring)
    assert not continues_chain(event, "other", keyring)
    assert not continues_chain(event.model_copy(update={"actor_id": "x"}), ORG, keyring)


def _use(**changes: object) -> ValueUseEvent:
    event = ValueUseEvent(
        event_id="v1",
        action="template.render",
        actor=Actor(user_id="u", organization_id=ORG, role=Role.ADMIN),
        organization_id=ORG,
        customer_organization_id="c1",
        keys=[ValueUseKey(key="K", customer_organization_id="c1", version=1)],
        outcome="success",
        request_id="r",
        at=NOW,
    )
    return event.model_copy(update=changes)


def test_value_use_problems_name_the_rule_never_the_values() -> None:
    customer = Actor(
        user_id="u", organization_id=ORG, role=Role.ADMIN, customer_organization_id="c1"
    )
    assert value_use_problem(_use(), NOW) is None
    assert value_use_problem(_use(actor=customer), NOW) is None
    foreign = Actor(user_id="u", organization_id="evil", role=Role.ADMIN)
    assert value_use_problem(_use(actor=foreign), NOW) == "actor of another organization"
    other_scope = _use(actor=customer, customer_organization_id="c2", keys=[])
    assert value_use_problem(other_scope, NOW) == "customer actor using another scope"
    # The refused attempt itself is what the chain must record.
    assert value_use_problem(other_scope.model_copy(update={"outcome": "forbidden"}), NOW) is None
    stray = _use(keys=[ValueUseKey(key="K", customer_organization_id="c2", version=1)])
    assert value_use_problem(stray, NOW) == "key of another customer scope"
    assert value_use_problem(_use(), NOW - MAX_FUTURE_SKEW - timedelta(seconds=1)) == (
        "at is in the future"
    )
    assert value_use_problem(_use(), NOW + MAX_FUTURE_SKEW) is None
    assert value_use_problem(_use(), NOW + MAX_AGE + timedelta(seconds=1)) == "at is too old"


def test_an_event_stored_twice_is_reported_as_a_duplicate() -> None:
    """A genuine event appended again (a replay after the de-duplication window, or a
    redelivery after it) links correctly in its new place, and verify still names it."""
    events = [_event(0), _event(1), _event(2), _event(1)]
    sealed = seal_events(events, head=ChainHead(), keyring=Keyring.parse(KEY_A))
    report = _verify(_stored(sealed, start=7))
    assert [(p.kind, p.stream_seq) for p in report.problems] == [("duplicate", 10)]
    assert "e1" in report.problems[0].message
    assert _verify(_stored(sealed[:3])).intact


def test_an_acknowledged_cut_stays_a_missing_head_and_a_forged_one_is_not_trusted() -> None:
    keyring = Keyring.parse(KEY_A)
    kept = _chain(4, keyring)  # positions 5..6 were cut; an operator acknowledged it
    ack = _event(9).model_copy(
        update={
            "action": LOST_HEAD_ACTION,
            "actor_id": "operator:ops",
            "details": {"anchoredPosition": "6", "streamPosition": "4", "lostPositions": "5..6"},
        }
    )
    (sealed,) = seal_events([ack], head=head_of(kept[-1]), keyring=keyring)
    report = _verify(_stored([*kept, sealed]))
    assert [(p.kind, p.stream_seq) for p in report.problems] == [("missing_head", 5)]
    assert "positions 5..6 were cut" in report.problems[0].message
    assert "operator:ops acknowledged" in report.problems[0].message
    # Without the audit key, the acknowledgement is only a forgery.
    forged = sealed.model_copy(update={"hash": "0" * 64})
    report = _verify(_stored([*kept, forged]))
    assert [p.kind for p in report.problems] == ["forged"]
    # The anchor a writer compares its head with must verify under the keyring.
    anchor = seal_anchor(ORG, head_of(kept[-1]), keyring=keyring)
    assert trusted_anchor(ORG, anchor, keyring) == head_of(kept[-1])
    assert isinstance(trusted_anchor("other", anchor, keyring), str)
    assert isinstance(trusted_anchor(ORG, anchor, Keyring.parse(KEY_B)), str)
