"""NatsReceiptPublisher: receipt events for the redactor."""

import logging

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from sigil_shared import subjects
from sigil_shared.contracts import ReceiptRecorded, RenderReceipt

log = logging.getLogger("sigil.renderer.events")


class NatsReceiptPublisher:
    """Publishes ``sigil.events.receipt.<org>``."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc

    async def published(self, receipt: RenderReceipt, *, encoded: bytes | None = None) -> None:
        """Best effort: the receipt store is the durable record. ``encoded``: the receipt's
        JSON when the caller has it (the event wraps it as is)."""
        if encoded is None:
            body = ReceiptRecorded(receipt=receipt).model_dump_json().encode()
        else:
            body = b'{"receipt":' + encoded + b"}"
        try:
            await self._nc.publish(subjects.receipt_event(receipt.organization_id), body)
        except NatsError as err:
            log.warning("receipt event not published: %s", type(err).__name__)
