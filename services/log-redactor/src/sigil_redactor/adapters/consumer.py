"""The raw-log work-queue consumer: one durable pull consumer shared by every replica.

nats-py directly rather than a FastStream subscriber: the loop fetches batches, naks held
records with a per-record delay, and acks only after the redacted form is stored.
"""

import asyncio
import contextlib
import functools
import logging

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import MsgAlreadyAckdError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import Error as JsError

from sigil_redactor.service import RedactorService
from sigil_shared import subjects
from sigil_shared.jetstream import bind_work_consumer, stop_fetch_loop
from sigil_shared.turns import Turn, Turns

log = logging.getLogger("sigil.redactor.consumer")
#: Fetches in flight at once (one redacting while the other waits for store acks).
_INFLIGHT = 2
#: Seconds before records a stopping replica gives back are redelivered: longer than a
#: fetch's pull request lives (1 s when idle).
_RELEASE_DELAY = 1.5
#: About this many bytes per fetch (messages are up to 1 MiB; 256 of them would be 256 MiB).
_FETCH_BYTES = 16 * 1024 * 1024


def _end_turn(turn: Turn, task: "asyncio.Task[None]") -> None:
    del task
    turn.end()


async def _release(messages: list[Msg]) -> None:
    """Nak every message not acked, naked or terminated yet (a stored one is deduplicated
    by its message id if it comes back).

    After a short delay: the stopped loop's last pull request stays open on the server
    until it expires (at most 1 s), and a message redelivered into it would wait out
    ack_wait again."""
    for msg in messages:
        with contextlib.suppress(MsgAlreadyAckdError, NatsError):
            await msg.nak(delay=_RELEASE_DELAY)


class _Raw:
    """Adapts a nats-py message to the service's RawMessage."""

    __slots__ = ("_msg", "data", "subject")

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self.subject = msg.subject
        self.data = msg.data

    @property
    def sequence(self) -> int:
        return int(self._msg.metadata.sequence.stream)

    @property
    def deliveries(self) -> int:
        return int(self._msg.metadata.num_delivered)

    async def ack(self) -> None:
        await self._msg.ack()

    async def nak(self, delay: float) -> None:
        await self._msg.nak(delay=delay)

    async def term(self) -> None:
        await self._msg.term()


class RawLogConsumer:
    """Fetches raw records in batches and hands them to the service."""

    def __init__(
        self, nc: NatsClient, service: RedactorService, *, batch: int, ack_wait: float
    ) -> None:
        self._nc = nc
        self._service = service
        self._batch = batch
        self._ack_wait = ack_wait
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._turns = Turns()
        self._sub: JetStreamContext.PullSubscription | None = None
        self.backlog = 0

    async def start(self) -> None:
        """Bind the durable consumer (shared by all replicas) and start the loop."""
        self._sub = await bind_work_consumer(
            self._nc,
            subject=subjects.LOGS_RAW_ALL,
            stream=subjects.LOGS_RAW_STREAM,
            durable=subjects.REDACTOR_DURABLE,
            ack_wait=self._ack_wait,
            max_ack_pending=20_000,
        )
        self._task = asyncio.create_task(self._run(), name="raw-log-consumer")

    async def _run(self) -> None:
        # A pull for more messages than are waiting is held by the server until it expires,
        # so each fetch asks for what the last one said is pending (batches are up to 1 MiB:
        # a few messages can be thousands of records); when idle, one message, waited for.
        pending = 0
        typical = 1  # bytes of a message in the last fetch: fetches stay near _FETCH_BYTES
        while True:
            assert self._sub is not None
            want = min(self._batch, pending, max(1, _FETCH_BYTES // typical)) if pending else 1
            try:
                messages = await self._sub.fetch(batch=want, timeout=0.25 if pending else 1.0)
            except (TimeoutError, NatsTimeoutError):
                pending = 0
                continue
            except JsError as err:
                log.warning("fetch failed: %s", type(err).__name__)
                pending = 0
                await asyncio.sleep(0.5)
                continue
            if not messages:
                pending = 0
                continue
            pending = int(messages[-1].metadata.num_pending)
            typical = max(1, sum(len(m.data) for m in messages) // len(messages))
            self.backlog = pending
            self._service.backlog = pending
            # The next fetch and its redaction overlap this one's; a fetch stores after the
            # earlier fetches of its deployments (subjects) have, so each deployment's records
            # are stored in raw order. A fetch that fails or is cancelled (even before it
            # starts) ends its turn when its task ends.
            turn = self._turns.take(m.subject for m in messages)
            task = asyncio.create_task(self._process(messages, turn))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            task.add_done_callback(functools.partial(_end_turn, turn))
            if len(self._inflight) >= _INFLIGHT:
                await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)

    async def _process(self, messages: list[Msg], turn: Turn) -> None:
        try:
            await self._service.process([_Raw(m) for m in messages], turn=turn)
        except asyncio.CancelledError:
            # Stopping: what this fetch has not settled goes back now rather than after
            # ack_wait, so it is redelivered before lines published later (raw order).
            await _release(messages)
            raise
        except Exception as err:  # noqa: BLE001 - the loop must survive; records redeliver
            log.error("batch failed, records will be redelivered: %s", type(err).__name__)

    async def stop(self) -> None:
        """Stop fetching and release the subscription (so the connection drains at once)."""
        if self._task is not None:
            await stop_fetch_loop(self._task)
            self._task = None
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._sub is not None:
            with contextlib.suppress(JsError, NatsError):
                await self._sub.unsubscribe()
            self._sub = None
