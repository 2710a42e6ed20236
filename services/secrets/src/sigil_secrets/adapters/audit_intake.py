"""The value-use audit intake (contract C1): a durable pull consumer shared by every replica.

Renderers publish value-use events into the SIGIL_AUDIT_INTAKE work queue and wait for
the PubAck before answering: one event per message, or the events of an organization's
concurrent renders coalesced into one message (a JSON array of up to
``MAX_VALUE_USE_BATCH``). Here each fetched batch of messages is appended to the
organizations' audit chains (a message's events concurrently, so the audit log
group-commits them: a batch costs a few round trips) and a message is acknowledged only
after every event of it that can be appended is stored. If one cannot be stored yet the
whole message is redelivered with a growing delay, at most ``MAX_DELIVER`` times unless the
audit stream itself is down; the events stored before are not stored again (their id is
the audit stream's de-duplication id, within its window). An event that can never be
appended (not the contract, filed under another organization, an actor of another
organization, a customer using another's scope, keys of another customer, an ``at`` far
from the time the intake stored it) is dropped at once while the rest of its message is
stored; a message with nothing to store is terminated. Every drop is counted and logged by
reason and organization, never content. nats-py directly, like the redactor's raw-log
consumer: the loop fetches batches and acks per message after the appends.
"""

import asyncio
import contextlib
import functools
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

from sigil_secrets.domain.value_use import triage_value_uses
from sigil_secrets.ports import AuditLog
from sigil_shared import subjects
from sigil_shared.contracts import (
    AuditEvent,
    ValueUseBatchError,
    decode_value_use_batch,
)
from sigil_shared.errors import SigilError
from sigil_shared.jetstream import bind_work_consumer, stop_fetch_loop
from sigil_shared.turns import Turn, Turns

#: Every message's turn is taken under this one key: intake order, whatever the org.
_INTAKE_ORDER = ("intake",)
log = logging.getLogger("sigil.secrets.audit_intake")

#: Seconds before an unacknowledged intake message is redelivered.
ACK_WAIT = 30.0
#: Seconds a failed append waits before its first redelivery; doubles per delivery.
RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 60.0
#: Deliveries of one message before the events of it not stored are given up (counted and
#: logged), about 18 minutes of retries, while the audit stream itself answers and takes
#: events: the events (or their organization's chain) are then the problem, and the work
#: queue moves on rather than retrying them for ever. While the stream is down, events
#: stay queued.
MAX_DELIVER = 24

#: Fetched messages waiting for their events to be stored before the loop stops fetching.
MAX_IN_FLIGHT = 2048
#: ... and bytes of them: an intake message may be up to 1 MiB (and its events take several
#: times that as objects), so the count alone would let a flood of large ones hold gigabytes
#: here. One fetch brings at most ``FETCH_BATCH`` and, after a fetch of large messages, only
#: as many as fit these bytes (under load a fetch finds a few: renders share intake
#: messages, a dozen events each at 2,000 renders/s).
MAX_IN_FLIGHT_BYTES = 2 * 1024 * 1024
FETCH_BATCH = 8
#: A message larger than this is decoded and sorted in a worker thread: a full 1 MiB batch
#: takes tens of milliseconds, which would hold up every request of the service meanwhile.
INLINE_DECODE_BYTES = 64 * 1024
#: Seconds between fetches that found fewer messages than a batch.
FETCH_PAUSE = 0.01

#: Value-use events not appended, by reason; labels never carry content.
_DROPPED = metrics.get_meter("sigil.secrets").create_counter(
    "sigil.audit_intake.dropped",
    unit="{event}",
    description="Value-use events refused (invalid, misfiled, forged) or given up after retries",
)


class AuditIntakeConsumer:
    """Fetches value-use events and appends each to its organization's audit chain."""

    def __init__(self, nc: NatsClient, audit: AuditLog, *, batch: int = FETCH_BATCH) -> None:
        self._nc = nc
        self._audit = audit
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        #: Events dropped since start, by reason (also the ``sigil.audit_intake.dropped``
        #: counter): what the log lines count.
        self.dropped: Counter[str] = Counter()
        #: One turn per message, all under one key: a message queues its events for the
        #: chain only after the one fetched before it did, so they are stored in intake
        #: order even when a large message is decoded in a thread while a small one is not.
        self._turns = Turns()

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
        """Fetch on while earlier messages wait for their appends (the audit log lets a
        commit of these events fill up for a moment), up to ``MAX_IN_FLIGHT`` messages and
        ``MAX_IN_FLIGHT_BYTES`` of them."""
        rounds: set[asyncio.Task[None]] = set()
        in_flight = size = 0
        typical = 1  # bytes of a message in the last fetch

        def settled(task: asyncio.Task[None], count: int, nbytes: int) -> None:
            nonlocal in_flight, size
            in_flight -= count
            size -= nbytes
            rounds.discard(task)

        try:
            while True:
                assert self._sub is not None
                if in_flight >= MAX_IN_FLIGHT or size >= MAX_IN_FLIGHT_BYTES:
                    await asyncio.wait(rounds, return_when=asyncio.FIRST_COMPLETED)
                    continue
                want = max(1, min(self._batch, MAX_IN_FLIGHT_BYTES // typical))
                try:
                    messages = await self._sub.fetch(batch=want, timeout=1.0)
                except (TimeoutError, NatsTimeoutError):
                    continue
                except JsError as err:
                    log.warning("audit intake fetch failed: %s", type(err).__name__)
                    await asyncio.sleep(0.5)
                    continue
                task = asyncio.create_task(self._round(messages))
                nbytes = sum(len(m.data) for m in messages)
                typical = max(1, nbytes // max(1, len(messages)))
                in_flight += len(messages)
                size += nbytes
                rounds.add(task)
                task.add_done_callback(
                    functools.partial(settled, count=len(messages), nbytes=nbytes)
                )
                if len(messages) < want:
                    # Caught up: let more arrive before the next fetch (one fetch per
                    # pause under load instead of one per message or two).
                    await asyncio.sleep(FETCH_PAUSE)
        finally:
            for task in rounds:
                task.cancel()
            await asyncio.gather(*rounds, return_exceptions=True)

    async def _round(self, messages: list[Msg]) -> None:
        await asyncio.gather(
            *(self._handle(msg, self._turns.take(_INTAKE_ORDER)) for msg in messages)
        )

    def _count(self, refused: Counter[tuple[str, str | None]]) -> None:
        """Count dropped events by (reason, organization); the log line names the reason
        and the organization only, never an event's content."""
        for (reason, org), events in refused.items():
            self.dropped[reason] += events
            _DROPPED.add(events, {"reason": reason})
            log.error(
                "audit intake: %s of %s refused (%s); %d refused for this reason so far",
                "event" if events == 1 else f"{events} events",
                org or "an unknown organization",
                reason,
                self.dropped[reason],
            )

    async def _handle(self, msg: Msg, turn: Turn) -> None:
        """Append a message's events (in its turn), then ack; redeliver it later (a bounded
        number of times) if one cannot be stored yet; drop at once what can never be
        appended, and terminate a message left with nothing to append."""
        try:
            try:
                org, accepted, refused = await self._sort(msg)
            except ValueUseBatchError:
                # Contract violation by a publisher: never appendable, so not retried.
                self._count(Counter({("not a value-use event", None): 1}))
                await _settle(msg.term())
                return
            if org is None or not accepted:
                self._count(refused)
                await _settle(msg.term())
                return
            await turn.wait()
            # Together, so the audit log group-commits them; no request waits on them.
            appending = asyncio.ensure_future(self._audit.append_all(accepted, background=True))
        finally:
            turn.end()  # the next message may queue its events (after these)
        outcomes = await appending
        failed = _failures(outcomes)
        unavailable = next((e for e in failed if isinstance(e, SigilError)), None)
        if unavailable is not None:
            if await self._redeliver(msg, org, unavailable.code, len(failed)):
                return  # what it refused is counted once, when it is settled for good
            # Given up while the stream answers and takes events; but this delivery may
            # have failed just as an outage ended: one more try now.
            retry = [
                e for e, out in zip(accepted, outcomes, strict=True) if isinstance(out, Exception)
            ]
            failed = _failures(await self._audit.append_all(retry, background=True))
            if failed:
                refused["not stored after every retry", org] += len(failed)
        else:  # one event must not stop the loop
            refused.update((f"unexpected {type(e).__name__}", org) for e in failed)
        self._count(refused)
        await _settle(msg.ack() if len(failed) < len(outcomes) else msg.term())

    @staticmethod
    async def _sort(
        msg: Msg,
    ) -> tuple[str | None, list[AuditEvent], Counter[tuple[str, str | None]]]:
        """``_decode_and_triage`` of ``msg``, in a worker thread when it is large."""
        sort = functools.partial(_decode_and_triage, msg.data, msg.subject, _received(msg))
        if len(msg.data) > INLINE_DECODE_BYTES:
            return await asyncio.to_thread(sort)
        return sort()

    async def _redeliver(self, msg: Msg, org: str, code: str, failed: int) -> bool:
        """Have ``msg`` redelivered with a growing delay (True); after ``MAX_DELIVER``
        deliveries give its ``failed`` events up (False) unless the audit stream itself is
        down (then they wait, durable)."""
        deliveries = _deliveries(msg)
        if deliveries >= MAX_DELIVER:
            if not await self._stream_down():
                return False
            await _settle(msg.nak(delay=MAX_RETRY_DELAY))
            return True
        if deliveries == 1:  # once per message, not once per retry
            log.warning(
                "audit intake: %s of %s not stored yet (%s)",
                "event" if failed == 1 else f"{failed} events",
                org,
                code,
            )
        delay = min(RETRY_DELAY * 2 ** (deliveries - 1), MAX_RETRY_DELAY)
        await _settle(msg.nak(delay=delay))
        return True

    async def _stream_down(self) -> bool:
        try:
            await self._audit.ping()
        except SigilError:
            return True
        return False

    async def stop(self) -> None:
        """Stop fetching and release the subscription."""
        if self._task is not None:
            await stop_fetch_loop(self._task)
            self._task = None
        if self._sub is not None:
            with contextlib.suppress(JsError, NatsError):
                await self._sub.unsubscribe()
            self._sub = None


def _decode_and_triage(
    data: bytes, subject: str, received: datetime
) -> tuple[str | None, list[AuditEvent], Counter[tuple[str, str | None]]]:
    """A message's events, sorted (``triage_value_uses``); ValueUseBatchError if it holds none."""
    return triage_value_uses(decode_value_use_batch(data), subject, received)


def _failures(outcomes: list[AuditEvent | BaseException]) -> list[Exception]:
    """The appends that failed; a cancellation (the consumer is stopping) is raised."""
    failed: list[Exception] = []
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            failed.append(outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
    return failed


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
