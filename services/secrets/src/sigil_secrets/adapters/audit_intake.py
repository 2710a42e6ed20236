"""The value-use audit intake (contract C1): a durable pull consumer shared by every replica.

Renderers publish a ValueUseEvent per render or validation into the SIGIL_AUDIT_INTAKE
work queue and wait for its PubAck before answering. Here each fetched batch is appended
to the organizations' audit chains (group-committed, so a batch costs a few round trips)
and every message is acknowledged only after its event is stored; an event that cannot
be stored is redelivered. nats-py directly, like the redactor's raw-log consumer: the
loop fetches batches and acks per message after the append.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import Error as JsError
from pydantic import ValidationError

from sigil_secrets.domain.value_use import value_use_audit_event
from sigil_secrets.ports import AuditLog
from sigil_shared import subjects
from sigil_shared.contracts import ValueUseEvent
from sigil_shared.errors import SigilError

log = logging.getLogger("sigil.secrets.audit_intake")

#: Seconds before an unacknowledged intake message is redelivered.
ACK_WAIT = 30.0
#: Seconds a failed append waits before its redelivery.
RETRY_DELAY = 1.0


class AuditIntakeConsumer:
    """Fetches value-use events and appends each to its organization's audit chain."""

    def __init__(self, nc: NatsClient, audit: AuditLog, *, batch: int = 256) -> None:
        self._nc = nc
        self._audit = audit
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    async def start(self) -> None:
        """Bind the durable consumer (shared by all replicas) and start the loop."""
        js = self._nc.jetstream()
        self._sub = await js.pull_subscribe(
            subjects.AUDIT_INTAKE_ALL,
            durable=subjects.AUDIT_INTAKE_DURABLE,
            stream=subjects.AUDIT_INTAKE_STREAM,
            config=ConsumerConfig(
                durable_name=subjects.AUDIT_INTAKE_DURABLE,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ACK_WAIT,
                max_deliver=-1,
                max_ack_pending=10_000,
            ),
        )
        self._task = asyncio.create_task(self._run(), name="audit-intake")

    async def _run(self) -> None:
        while True:
            assert self._sub is not None
            try:
                messages = await self._sub.fetch(batch=self._batch, timeout=1.0)
            except (TimeoutError, NatsTimeoutError):
                continue
            except JsError as err:
                log.warning("audit intake fetch failed: %s", type(err).__name__)
                await asyncio.sleep(0.5)
                continue
            await asyncio.gather(*(self._handle(msg) for msg in messages))

    async def _handle(self, msg: Msg) -> None:
        """Append one event, then ack; redeliver later if it cannot be stored."""
        try:
            event = ValueUseEvent.model_validate_json(msg.data)
        except ValidationError:
            # Contract violation by a publisher: never appendable, so not retried.
            log.error("audit intake: message on %s is not a ValueUseEvent; dropped", msg.subject)
            await _settle(msg.term())
            return
        if msg.subject != subjects.audit_intake(event.organization_id):
            log.error("audit intake: event %s filed under another organization", event.event_id)
            await _settle(msg.term())
            return
        try:
            await self._audit.append(value_use_audit_event(event))
        except SigilError as err:
            log.warning("audit intake: event %s not stored yet (%s)", event.event_id, err.code)
            await _settle(msg.nak(delay=RETRY_DELAY))
            return
        await _settle(msg.ack())

    async def stop(self) -> None:
        """Stop fetching and release the subscription."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._sub is not None:
            with contextlib.suppress(JsError, NatsError):
                await self._sub.unsubscribe()
            self._sub = None


async def _settle(reply: Awaitable[None]) -> None:
    """Await an ack/nak/term; a lost one only means a redelivery (appends are idempotent)."""
    with contextlib.suppress(JsError, NatsError, TimeoutError):
        await reply
