"""The value-use audit intake (contract C1): a durable pull consumer shared by every replica.

Renderers publish a ValueUseEvent per render or validation into the SIGIL_AUDIT_INTAKE
work queue and wait for its PubAck before answering. Here each fetched batch is appended
to the organizations' audit chains (group-committed, so a batch costs a few round trips)
and every message is acknowledged only after its event is stored; an event that cannot
be stored is redelivered with a growing delay, at most ``MAX_DELIVER`` times unless the
audit stream itself is down. An event that can never be appended (not the contract, filed
under another organization, an actor of another organization, a customer using another's
scope, keys of another customer, an ``at`` far from the time the intake stored it) is
terminated at once. Every drop is counted and logged by reason and organization, never
content. nats-py directly, like the redactor's raw-log consumer: the loop fetches batches
and acks per message after the append.
"""

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable
from datetime import UTC, datetime

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import Error as JsError
from opentelemetry import metrics
from pydantic import ValidationError

from sigil_secrets.domain.value_use import value_use_audit_event, value_use_problem
from sigil_secrets.ports import AuditLog
from sigil_shared import subjects
from sigil_shared.contracts import ValueUseEvent
from sigil_shared.errors import SigilError
from sigil_shared.jetstream import bind_work_consumer

log = logging.getLogger("sigil.secrets.audit_intake")

#: Seconds before an unacknowledged intake message is redelivered.
ACK_WAIT = 30.0
#: Seconds a failed append waits before its first redelivery; doubles per delivery.
RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 60.0
#: Deliveries of one event before it is given up (terminated, counted and logged), about
#: 18 minutes of retries, while the audit stream itself answers and takes events: the
#: event (or its organization's chain) is then the problem, and the work queue moves on
#: rather than retrying it for ever. While the stream is down, events stay queued.
MAX_DELIVER = 24

#: Intake messages not appended, by reason; labels never carry content.
_DROPPED = metrics.get_meter("sigil.secrets").create_counter(
    "sigil.audit_intake.dropped",
    unit="{message}",
    description="Value-use events refused (invalid, misfiled, forged) or given up after retries",
)


class AuditIntakeConsumer:
    """Fetches value-use events and appends each to its organization's audit chain."""

    def __init__(self, nc: NatsClient, audit: AuditLog, *, batch: int = 256) -> None:
        self._nc = nc
        self._audit = audit
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        #: Messages dropped since start, by reason (also the ``sigil.audit_intake.dropped``
        #: counter): what the log lines count.
        self.dropped: Counter[str] = Counter()

    async def start(self) -> None:
        """Bind the durable consumer (shared by all replicas) and start the loop."""
        # The loop bounds a poison event (term) and keeps events queued through an audit
        # outage, so the server-side delivery count stays unbounded.
        self._sub = await bind_work_consumer(
            self._nc,
            subject=subjects.AUDIT_INTAKE_ALL,
            stream=subjects.AUDIT_INTAKE_STREAM,
            durable=subjects.AUDIT_INTAKE_DURABLE,
            ack_wait=ACK_WAIT,
            max_ack_pending=10_000,
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

    def _drop(self, msg: Msg, reason: str, org: str | None) -> Awaitable[None]:
        """Terminate ``msg`` (never redelivered), counted; the log line names the reason
        and organization only, never the message's content."""
        self.dropped[reason] += 1
        _DROPPED.add(1, {"reason": reason})
        log.error(
            "audit intake: event of %s refused (%s); %d refused for this reason so far",
            org or "an unknown organization",
            reason,
            self.dropped[reason],
        )
        return _settle(msg.term())

    async def _handle(self, msg: Msg) -> None:
        """Append one event, then ack; redeliver later (a bounded number of times) if it
        cannot be stored; terminate at once what can never be appended."""
        try:
            event = ValueUseEvent.model_validate_json(msg.data)
        except ValidationError:
            # Contract violation by a publisher: never appendable, so not retried.
            await self._drop(msg, "not a value-use event", None)
            return
        org = event.organization_id
        if msg.subject != subjects.audit_intake(org):
            await self._drop(msg, "filed under another organization", None)
            return
        received = _received(msg)
        problem = value_use_problem(event, received)
        if problem is not None:
            await self._drop(msg, problem, org)
            return
        try:
            await self._audit.append(value_use_audit_event(event, received))
        except SigilError as err:
            await self._retry(msg, org, err.code)
            return
        except Exception as err:  # noqa: BLE001 - one event must not stop the loop
            await self._drop(msg, f"unexpected {type(err).__name__}", org)
            return
        await _settle(msg.ack())

    async def _retry(self, msg: Msg, org: str, code: str) -> None:
        """Redeliver later with a growing delay; give the event up after ``MAX_DELIVER``
        deliveries unless the audit stream itself is down (then it waits, durable)."""
        deliveries = _deliveries(msg)
        if deliveries >= MAX_DELIVER:
            if not await self._stream_down():
                await self._drop(msg, "not stored after every retry", org)
                return
            await _settle(msg.nak(delay=MAX_RETRY_DELAY))
            return
        if deliveries == 1:  # once per event, not once per retry
            log.warning("audit intake: event of %s not stored yet (%s)", org, code)
        delay = min(RETRY_DELAY * 2 ** (deliveries - 1), MAX_RETRY_DELAY)
        await _settle(msg.nak(delay=delay))

    async def _stream_down(self) -> bool:
        try:
            await self._audit.ping()
        except SigilError:
            return True
        return False

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


def _received(msg: Msg) -> datetime:
    """When the intake stream stored ``msg`` (the server's clock), else now."""
    try:
        return msg.metadata.timestamp
    except (ValueError, TypeError, IndexError, AttributeError):
        return datetime.now(UTC)


def _deliveries(msg: Msg) -> int:
    try:
        return max(1, msg.metadata.num_delivered)
    except (ValueError, TypeError, IndexError, AttributeError):
        return 1


async def _settle(reply: Awaitable[None]) -> None:
    """Await an ack/nak/term; a lost one only means a redelivery (appends are idempotent)."""
    with contextlib.suppress(JsError, NatsError, TimeoutError):
        await reply
