"""Bulk reads of a JetStream stream through a short-lived pull consumer.

nats-py's KV watcher signals "initial values done" from a consumer-info snapshot that
races with delivery (it can report done before the first entry); a pull consumer's
pending count at creation is exact, so scans here never stop early.
"""

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

_BATCH = 1000
_FETCH_TIMEOUT = 5.0
_KV_DELETED = ("DEL", "PURGE")


async def scan_last_per_subject(js: JetStreamContext, stream: str, subject: str) -> list[Msg]:
    """The newest message of every subject matching ``subject``, deletes left out."""
    sub = await js.pull_subscribe(
        subject,
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        ),
    )
    found: list[Msg] = []
    try:
        info = await sub.consumer_info()
    except BaseException:
        await sub.unsubscribe()
        raise
    try:
        pending = info.num_pending or 0
        while pending > 0:
            batch = await sub.fetch(batch=min(pending, _BATCH), timeout=_FETCH_TIMEOUT)
            for msg in batch:
                if (msg.headers or {}).get("KV-Operation") not in _KV_DELETED:
                    found.append(msg)
            pending = batch[-1].metadata.num_pending if batch else 0
    finally:
        await sub.unsubscribe()
        await js.delete_consumer(stream, info.name)
    return found
