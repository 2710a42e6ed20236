"""JsAuditIntake: value-use events onto the audit intake stream (contract C1), acked."""

import logging

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from sigil_shared import subjects
from sigil_shared.contracts import ValueUseEvent
from sigil_shared.errors import UnavailableError

log = logging.getLogger("sigil.renderer.audit")


class JsAuditIntake:
    """JetStream publish to ``sigil.auditintake.<org>``; returns only after the PubAck."""

    def __init__(self, js: JetStreamContext, *, timeout: float) -> None:
        self._js = js
        self._timeout = timeout

    async def record(self, event: ValueUseEvent) -> None:
        """Durably record ``event``; UnavailableError when the stream does not ack it."""
        try:
            await self._js.publish(
                subjects.audit_intake(event.organization_id),
                event.model_dump_json().encode(),
                timeout=self._timeout,
                stream=subjects.AUDIT_INTAKE_STREAM,
                # The event id doubles as the dedupe id, so a retried publish is stored once.
                headers={"Nats-Msg-Id": event.event_id},
            )
        except (NatsError, TimeoutError) as err:
            log.warning("value-use audit event not recorded: %s", type(err).__name__)
            raise UnavailableError("audit intake is unavailable; nothing was rendered") from err
