"""A live, in-memory copy of every secret record, fed by one JetStream consumer.

Listing, resolving and redaction-value reads scan whole organizations; reading them
from the bucket each time costs a consumer and a decode per record. This cache holds
decoded records per organization: one ordered consumer delivers the newest value of
every record key, then every change as it happens. Writes made by this replica are
applied at once (read-your-writes); other replicas' writes arrive within the bus's
delivery latency. About 1 KB of memory per secret.
"""

import asyncio
import json
import logging

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from sigil_secrets.adapters.codec import record_from_doc
from sigil_secrets.domain.model import SecretRecord
from sigil_secrets.domain.record_index import ListScope, RecordIndex

log = logging.getLogger("sigil.secrets.cache")
_KV_DELETED = ("DEL", "PURGE")


class RecordCache:
    """Organization -> id -> (revision, record) with sorted indexes, fed by a KV consumer."""

    def __init__(self, js: JetStreamContext, *, stream: str, subject_prefix: str) -> None:
        self._js = js
        self._stream = stream
        self._prefix = subject_prefix
        self._index = RecordIndex()
        self._ready = asyncio.Event()
        self._sub: JetStreamContext.PushSubscription | None = None
        self._applied = 0  # stream sequence of the newest delivery handled
        self._progress = asyncio.Event()

    @property
    def ready(self) -> bool:
        """True once the initial load has been delivered."""
        return self._ready.is_set()

    async def start(self, timeout: float = 30.0) -> None:
        """Subscribe and wait for the initial load."""
        self._sub = await self._js.subscribe(
            f"{self._prefix}o.*.r.*",
            stream=self._stream,
            cb=self._on_msg,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
        )
        info = await self._sub.consumer_info()
        delivered = info.delivered.stream_seq if info.delivered else 0
        if not info.num_pending and not delivered:
            self._ready.set()
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def sync(self, timeout: float = 5.0) -> None:
        """Wait until every record change stored before this call is applied here.

        Another replica's write reaches this copy within the bus latency; a value read that
        must not be older than an acknowledged change (resolve after the scope generation
        moved, redaction values) first asks the consumer how far the server has delivered
        and waits for that point. One round trip.
        """
        if self._sub is None:
            raise TimeoutError("record cache is not running")
        async with asyncio.timeout(timeout):
            while True:
                info = await self._sub.consumer_info()
                target = info.delivered.stream_seq if info.delivered else 0
                while self._applied < target:
                    self._progress.clear()
                    await self._progress.wait()
                if not info.num_pending:
                    return

    async def stop(self) -> None:
        """Stop following the bucket."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_msg(self, msg: Msg) -> None:
        try:
            meta = msg.metadata
            key = msg.subject.removeprefix(self._prefix)
            _, org, _, secret_id = key.split(".")
            revision = meta.sequence.stream
            self._applied = max(self._applied, revision)
            self._progress.set()
            known = self._index.revision(org, secret_id)
            # This replica's own writes are applied when made; skip decoding them again.
            if known is None or known < revision:
                deleted = (msg.headers or {}).get("KV-Operation") in _KV_DELETED
                record = None if deleted or not msg.data else record_from_doc(json.loads(msg.data))
                self.apply(org, secret_id, revision, record)
            if meta.num_pending == 0:
                self._ready.set()
        except (ValueError, KeyError) as err:
            log.error("unreadable record in the secrets bucket: %s", type(err).__name__)

    def apply(self, org: str, secret_id: str, revision: int, record: SecretRecord | None) -> None:
        """Record a change unless a newer one is already known (deletes kept as markers)."""
        self._index.apply(org, secret_id, revision, record)

    def forget(self, org: str, secret_id: str) -> None:
        """Mark a record deleted by this replica (the consumer confirms it later)."""
        self._index.forget(org, secret_id)

    def get(self, org: str, secret_id: str) -> tuple[SecretRecord, int] | None:
        """A live record and its revision as this replica knows it (may be stale)."""
        return self._index.get(org, secret_id)

    def records(self, org: str) -> list[SecretRecord]:
        """Live records of one organization."""
        return self._index.records(org)

    def find(self, org: str, scope: str | None, key: str) -> SecretRecord | None:
        """The live record of (scope, key)."""
        return self._index.find(org, scope, key)

    def page(
        self, org: str, where: ListScope, *, after: tuple[str, str] | None, limit: int
    ) -> list[SecretRecord]:
        """One listing page from the sorted index."""
        return self._index.page(org, where, after=after, limit=limit)
