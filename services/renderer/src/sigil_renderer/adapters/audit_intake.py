"""JsAuditIntake: value-use events onto the audit intake stream (contract C1), acked.

Renders that finish together share one intake message: the events recorded for an
organization during one turn of the event loop go out as one batch (a JSON array, at
most ``MAX_VALUE_USE_BATCH`` events and ``MAX_VALUE_USE_MESSAGE_BYTES`` bytes, split into
more messages beyond) and every caller waits for its message's PubAck.
One render alone is one event, published at once; under load a publish, an ack and the
secrets service's fetch are paid per batch instead of per render.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from sigil_shared import subjects
from sigil_shared.contracts import ValueUseEvent
from sigil_shared.contracts.audit import MAX_VALUE_USE_BATCH, encode_value_use_messages
from sigil_shared.errors import UnavailableError

log = logging.getLogger("sigil.renderer.audit")


@dataclass
class _Batch:
    events: list[ValueUseEvent] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    closed: bool = False


class JsAuditIntake:
    """JetStream publish to ``sigil.auditintake.<org>``; returns only after the PubAck."""

    def __init__(self, js: JetStreamContext, *, timeout: float) -> None:
        self._js = js
        self._timeout = timeout
        #: Events of this loop turn not yet handed to a publish, per organization.
        self._open: dict[str, _Batch] = {}
        self._publishing: set[asyncio.Task[None]] = set()

    async def record(self, event: ValueUseEvent) -> None:
        """Durably record ``event``; UnavailableError when the stream does not ack it."""
        org = event.organization_id
        loop = asyncio.get_running_loop()
        batch = self._open.get(org)
        if batch is None:
            batch = self._open[org] = _Batch()
            loop.call_soon(self._close, org, batch)
        done: asyncio.Future[None] = loop.create_future()
        batch.events.append(event)
        batch.waiters.append(done)
        if len(batch.events) >= MAX_VALUE_USE_BATCH:
            self._close(org, batch)
        await done

    def _close(self, org: str, batch: _Batch) -> None:
        """Hand ``batch`` to a publish (once; a full batch closes early)."""
        if batch.closed:
            return
        batch.closed = True
        if self._open.get(org) is batch:
            del self._open[org]
        task = asyncio.get_running_loop().create_task(self._publish(org, batch))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, org: str, batch: _Batch) -> None:
        """One intake message per ``MAX_VALUE_USE_MESSAGE_BYTES`` of events, in order; each
        event's caller gets its own message's answer."""
        start = 0
        for data, msg_id, count in encode_value_use_messages(batch.events):
            waiters = batch.waiters[start : start + count]
            start += count
            try:
                await self._js.publish(
                    subjects.audit_intake(org),
                    data,
                    timeout=self._timeout,
                    stream=subjects.AUDIT_INTAKE_STREAM,
                    # Derived from the event ids, so a retried publish is stored once.
                    headers={"Nats-Msg-Id": msg_id},
                )
            except (NatsError, TimeoutError) as err:
                log.warning("value-use audit events not recorded: %s", type(err).__name__)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(
                            UnavailableError("audit intake is unavailable; nothing was rendered")
                        )
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
