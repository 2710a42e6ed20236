"""Change and receipt events: every replica drops the matchers they make stale."""

from faststream.nats import NatsBroker

from sigil_redactor.service import RedactorService
from sigil_shared import operations as ops
from sigil_shared.bus import Deferred, listen
from sigil_shared.contracts import ReceiptRecorded, SecretChanged


def register(broker: NatsBroker, service: Deferred[RedactorService]) -> None:
    """Subscribe without a queue group: each replica keeps its own cache."""

    async def secret_changed(event: SecretChanged) -> None:
        if service.ready:
            service.get().secret_changed(event.organization_id)

    async def receipt_recorded(event: ReceiptRecorded) -> None:
        if service.ready:
            receipt = event.receipt
            service.get().receipt_recorded(receipt.organization_id, receipt.deployment_id)

    listen(broker, ops.SECRET_CHANGED, secret_changed)
    listen(broker, ops.RECEIPT_RECORDED, receipt_recorded)
