"""Value-use events (contract C1) as audit events of the organization's chain."""

from sigil_shared.contracts import AuditEvent, AuditOutcome, ValueUseEvent


def value_use_audit_event(event: ValueUseEvent) -> AuditEvent:
    """The chain event for one render or validation: who, which keys and versions, outcome.

    The renderer's event id becomes the audit event id, so a redelivered intake message
    is stored once (it is also the stream's de-duplication id).
    """
    success = event.outcome == AuditOutcome.SUCCESS.value
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
        prev_hash="",
    )
