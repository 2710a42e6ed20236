"""The chain events made of one intake message's value-use events."""

from datetime import UTC, datetime, timedelta

from sigil_secrets.domain.value_use import value_use_audit_event, value_use_audit_events
from sigil_shared.contracts import Actor, AuditOutcome, Role, ValueUseEvent, ValueUseKey


def _use(event_id: str, outcome: str = "success") -> ValueUseEvent:
    return ValueUseEvent(
        event_id=event_id,
        action="template.render",
        actor=Actor(user_id="u1", organization_id="acme", role=Role.READ_WRITE),
        organization_id="acme",
        deployment_id="web",
        keys=[ValueUseKey(key="DB_PASSWORD", version=2)],
        outcome=outcome,
        request_id="req-1",
        at=datetime.now(UTC) - timedelta(seconds=1),
    )


def test_a_message_of_events_converts_as_each_event_alone() -> None:
    received = datetime.now(UTC)
    uses = [_use("e1"), _use("e2", outcome="template_error")]
    events = value_use_audit_events(uses, received)
    assert events == [value_use_audit_event(use, received) for use in uses]
    assert [e.id for e in events] == ["e1", "e2"]
    assert [(e.outcome, e.error_code) for e in events] == [
        (AuditOutcome.SUCCESS, None),
        (AuditOutcome.FAILED, "template_error"),
    ]
    assert all(e.details == {"receivedAt": received.isoformat()} for e in events)
    assert events[0].details is not events[1].details  # each event its own copy
