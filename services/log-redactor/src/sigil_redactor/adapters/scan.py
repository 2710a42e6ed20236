"""Streaming reads of a JetStream subject through a short-lived push consumer.

The callback sees each message as it arrives and says whether to go on, so a read keeps only
what it needs (a page's newest records, not the whole history). The consumer is unnamed and
ephemeral: the redactor has no right to delete consumers, the server removes it once idle.
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


async def scan(
    nc: NatsClient,
    js: JetStreamContext,
    stream: str,
    subject: str,
    *,
    on_row: RowHandler,
    start_seq: int | None = None,
    last_per_subject: bool = False,
) -> None:
    """Feed the subject's messages, in stream order, to ``on_row`` until it returns False
    or the stream ends. KV deletes are skipped."""
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
        await sub.unsubscribe()
