"""Change and receipt events: every replica drops the matchers they make stale."""

from faststream.nats import NatsBroker

from sigil_redactor.handlers.deps import ServiceDep
from sigil_shared import subjects
from sigil_shared.contracts import ReceiptRecorded, SecretChanged


def register(broker: NatsBroker) -> None:
    """Subscribe without a queue group: each replica keeps its own cache."""

    @broker.subscriber(subjects.SECRET_EVENTS_ALL, no_reply=True)
    async def secret_changed(event: SecretChanged, service: ServiceDep) -> None:
        service.secret_changed(event.organization_id)

    @broker.subscriber(subjects.RECEIPT_EVENTS_ALL, no_reply=True)
    async def receipt_recorded(event: ReceiptRecorded, service: ServiceDep) -> None:
        service.receipt_recorded(event.receipt.organization_id, event.receipt.deployment_id)
