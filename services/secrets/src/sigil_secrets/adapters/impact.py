"""BusImpactSource: which live deployment revisions use a secret (from the renderer's receipts)."""

from faststream.nats import NatsBroker

from sigil_shared import operations as ops
from sigil_shared.bus import request
from sigil_shared.contracts import AffectedDeployment, ReceiptImpactRequest


class BusImpactSource:
    """Asks ``sigil.renderer.receipt.impact``."""

    def __init__(self, broker: NatsBroker, *, timeout: float) -> None:
        self._broker = broker
        self._timeout = timeout

    async def affected(self, org: str, customer: str | None, key: str) -> list[AffectedDeployment]:
        """Live revisions rendered with (key, scope)."""
        reply = await request(
            self._broker,
            ops.RECEIPT_IMPACT,
            ReceiptImpactRequest(organization_id=org, customer_organization_id=customer, key=key),
            timeout=self._timeout,
        )
        return list(reply.deployments)
