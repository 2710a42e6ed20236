"""Bulk reads of a JetStream stream through a short-lived push consumer.

nats-py's KV watcher signals "initial values done" from a consumer-info snapshot that
races with delivery (it can report done before the first entry), and its pull ``fetch``
pays a task and a timeout per message. Here an ephemeral push consumer delivers the
newest message per subject to a callback; the count comes from each message's own
"pending" field, so a scan never stops early and costs one callback per message.
"""

import asyncio
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

_SCAN_TIMEOUT = 30.0
_IDLE = 5.0
_KV_DELETED = ("DEL", "PURGE")


#: ``(stream sequence, message) -> go on?``
RowHandler = Callable[[int, Msg], bool]


async def scan_rows(
    nc: NatsClient,
    js: JetStreamContext,
    stream: str,
    subject: str,
    *,
    on_row: RowHandler,
    last_per_subject: bool = False,
    start_seq: int | None = None,
) -> None:
    """Feed the subject's messages, in stream order, to ``on_row`` until it returns False
    or the stream ends, so a read keeps only what it needs. KV deletes are skipped.

    ``last_per_subject`` delivers only the newest message per subject (KV reads);
    ``start_seq`` starts there.
    """
    done = asyncio.Event()

    async def on_msg(msg: Msg) -> None:
        if done.is_set():
            return
        # Reply: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[...]
        tokens = msg.reply.split(".")
        going = True
        if (msg.headers or {}).get("KV-Operation") not in _KV_DELETED:
            going = on_row(int(tokens[5]), msg)
        if not going or tokens[8] == "0":
            done.set()

    if last_per_subject:
        policy, opt_start_seq = DeliverPolicy.LAST_PER_SUBJECT, None
    elif start_seq is not None:
        policy, opt_start_seq = DeliverPolicy.BY_START_SEQUENCE, max(start_seq, 1)
    else:
        policy, opt_start_seq = DeliverPolicy.ALL, None
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=on_msg, pending_msgs_limit=-1, pending_bytes_limit=-1)
    try:
        info = await js.add_consumer(
            stream,
            ConsumerConfig(
                deliver_subject=inbox,
                deliver_policy=policy,
                opt_start_seq=opt_start_seq,
                ack_policy=AckPolicy.NONE,
                filter_subject=subject,
                inactive_threshold=_IDLE,
                mem_storage=True,
                num_replicas=1,
            ),
        )
        if info.num_pending:
            await asyncio.wait_for(done.wait(), _SCAN_TIMEOUT)
    finally:
        # No consumer delete: runtime users hold no such right (sigil_shared.permissions);
        # the server removes the idle consumer after its inactive threshold.
        await sub.unsubscribe()


async def scan(
    nc: NatsClient,
    js: JetStreamContext,
    stream: str,
    subject: str,
    *,
    last_per_subject: bool = False,
    start_seq: int | None = None,
    limit: int | None = None,
) -> list[tuple[str, int, bytes]]:
    """``(subject, stream sequence, data)`` of matching messages, in stream order.

    ``last_per_subject`` keeps only the newest message per subject (KV reads, deletes left
    out); ``start_seq`` starts there; ``limit`` stops after that many messages.
    """
    found: list[tuple[str, int, bytes]] = []

    def on_row(seq: int, msg: Msg) -> bool:
        found.append((msg.subject, seq, msg.data))
        return limit is None or len(found) < limit

    await scan_rows(
        nc,
        js,
        stream,
        subject,
        on_row=on_row,
        last_per_subject=last_per_subject,
        start_seq=start_seq,
    )
    return found


async def scan_last_per_subject(
    nc: NatsClient, js: JetStreamContext, stream: str, subject: str
) -> list[tuple[str, int, bytes]]:
    """The newest message of every subject matching ``subject`` (deletes left out)."""
    return await scan(nc, js, stream, subject, last_per_subject=True)


async def bind_work_consumer(
    nc: NatsClient,
    *,
    subject: str,
    stream: str,
    durable: str,
    ack_wait: float,
    max_ack_pending: int,
) -> JetStreamContext.PullSubscription:
    """Bind the durable pull consumer that every replica of a service shares on a work stream.

    Deliveries are unbounded on the server: the service decides when a message is given up
    (``term``), so an outage of what it writes to never strands a message.
    """
    return await nc.jetstream().pull_subscribe(
        subject,
        durable=durable,
        stream=stream,
        config=ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ack_wait,
            max_deliver=-1,
            max_ack_pending=max_ack_pending,
        ),
    )


async def stop_fetch_loop(task: asyncio.Task[None]) -> None:
    """Cancel a consumer's fetch loop and wait until it has ended.

    The cancellation is repeated until it takes: on Python 3.11 ``asyncio.wait_for`` (which
    every nats-py fetch waits in) loses a cancellation that arrives as its wait ends, and a
    loop that then fetches on would keep its service from ever shutting down.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    failure = None if task.cancelled() else task.exception()
    if failure is not None:
        raise failure
