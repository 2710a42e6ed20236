"""Value-use events (contract C1) as audit events of the organization's chain."""

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from sigil_shared import subjects
from sigil_shared.contracts import AuditEvent, AuditOutcome, ValueUseEvent

#: How far an event's ``at`` may lie after the time the intake stored it (clock skew
#: between renderer and NATS), and how long before it: the renderer publishes right after
#: the render and waits for the PubAck, so its ``at`` is seconds old when stored.
MAX_FUTURE_SKEW = timedelta(seconds=30)
MAX_AGE = timedelta(minutes=5)
#: ``AuditOutcome.SUCCESS.value``, read once: an enum member's ``value`` is a property.
_SUCCESS = AuditOutcome.SUCCESS.value


def value_use_problem(event: ValueUseEvent, received: datetime) -> str | None:
    """Why ``event`` is refused from the audit chain, or None; ``received`` is when the
    intake stream stored it. The reason names fields, never their values.

    Refused: an actor of another organization; a customer user's successful use of another
    scope than its own (a refused attempt, e.g. a customer naming another customer, is
    exactly what must be recorded, so it stays); a key of another customer than the use's
    scope; an ``at`` far from the receive time (backdated or post-dated).
    """
    if event.actor.organization_id != event.organization_id:
        return "actor of another organization"
    own = event.actor.customer_organization_id
    success = event.outcome == _SUCCESS
    if success and own is not None and event.customer_organization_id != own:
        return "customer actor using another scope"
    if any(
        k.customer_organization_id not in (None, event.customer_organization_id) for k in event.keys
    ):
        return "key of another customer scope"
    if event.at > received + MAX_FUTURE_SKEW:
        return "at is in the future"
    if event.at < received - MAX_AGE:
        return "at is too old"
    return None


def value_use_audit_event(event: ValueUseEvent, received: datetime | None = None) -> AuditEvent:
    """The chain event for one render or validation: who, which keys and versions, outcome.

    The renderer's event id becomes the audit event id, so a redelivered intake message
    is stored once (it is also the stream's de-duplication id). ``received`` (when the
    intake stored it) is kept next to the renderer's ``at``.
    """
    return _audit_event(event, None if received is None else {"receivedAt": received.isoformat()})


def value_use_audit_events(events: Iterable[ValueUseEvent], received: datetime) -> list[AuditEvent]:
    """``value_use_audit_event`` for the events of one intake message (one receive time)."""
    details = {"receivedAt": received.isoformat()}
    return [_audit_event(event, details) for event in events]


def _audit_event(event: ValueUseEvent, details: dict[str, str] | None) -> AuditEvent:
    success = event.outcome == _SUCCESS
    return AuditEvent(
        id=event.event_id,
        organization_id=event.organization_id,
        actor_id=event.actor.user_id,
        actor_role=event.actor.role,
        actor_customer_organization_id=event.actor.customer_organization_id,
        action=event.action,
        customer_organization_id=event.customer_organization_id,
        request_id=event.request_id,
        trace_id=event.trace_id,
        outcome=AuditOutcome.SUCCESS if success else AuditOutcome.FAILED,
        error_code=None if success else event.outcome,
        at=event.at,
        deployment_id=event.deployment_id,
        revision=event.revision,
        keys=list(event.keys),
        # Validated into a copy of its own: events of one message may share ``details``.
        details=details,
        prev_hash="",
    )


def triage_value_uses(
    events: list[ValueUseEvent | None], subject: str, received: datetime
) -> tuple[str | None, list[AuditEvent], Counter[tuple[str, str | None]]]:
    """Sort the events of one intake message on ``subject`` (None: an element that is not
    an event): the organization of the appendable ones (None if there is none), those as
    audit events, and the number refused per (reason, organization)."""
    org: str | None = None
    accepted: list[ValueUseEvent] = []
    refused: Counter[tuple[str, str | None]] = Counter()
    for event in events:
        if event is None:
            refused["not a value-use event", None] += 1
        elif subject != subjects.audit_intake(event.organization_id):
            refused["filed under another organization", None] += 1
        elif (problem := value_use_problem(event, received)) is not None:
            refused[problem, event.organization_id] += 1
        else:
            org = event.organization_id
            accepted.append(event)
    return org, value_use_audit_events(accepted, received), refused
