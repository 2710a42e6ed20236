"""JetStreamAuditLog: audit events in a stream that denies delete and purge.

Each organization's events form a hash chain. Appends use JetStream's expected last
sequence *for the organization's subjects*, so replicas appending concurrently can never
fork a chain: the loser re-reads the head and retries.
"""

import asyncio
import json
from collections.abc import AsyncIterator

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from nats.js.errors import Error as JsError

from sigil_secrets.domain.audit_chain import GENESIS, seal_event
from sigil_shared import subjects
from sigil_shared.contracts import AuditEvent
from sigil_shared.errors import AuditUnavailableError

_WRONG_LAST_SEQUENCE = 10071
_APPEND_ATTEMPTS = 8
_READ_TIMEOUT = 5.0


class JetStreamAuditLog:
    """The AuditLog port on a JetStream stream."""

    def __init__(
        self, nc: NatsClient, js: JetStreamContext, *, stream: str, replicas: int = 1
    ) -> None:
        self._nc = nc
        self._js = js
        self._stream = stream
        self._replicas = replicas
        self._heads: dict[str, tuple[int, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def setup(self) -> None:
        """Create the stream on first start (delete and purge denied)."""
        config = StreamConfig(
            name=self._stream,
            subjects=[subjects.AUDIT_ALL],
            storage=StorageType.FILE,
            num_replicas=self._replicas,
            deny_delete=True,
            deny_purge=True,
            allow_rollup_hdrs=False,
            duplicate_window=120,
            description="Sigil audit events (append-only, hash-chained per organization)",
        )
        try:
            try:
                await self._js.stream_info(self._stream)
            except NotFoundError:
                await self._js.add_stream(config)
        except (JsError, TimeoutError) as err:
            raise AuditUnavailableError("audit stream is unavailable") from err

    async def ping(self) -> None:
        """Raise unless the stream exists and accepts writes."""
        try:
            info = await self._js.stream_info(self._stream)
        except (JsError, TimeoutError) as err:
            raise AuditUnavailableError("audit stream does not answer") from err
        config = info.config
        if config.sealed or subjects.AUDIT_ALL not in (config.subjects or []):
            raise AuditUnavailableError("audit stream does not accept events")
        limit = config.max_msgs or -1
        if limit > 0 and info.state.messages >= limit and config.discard == "new":
            raise AuditUnavailableError("audit stream is full")

    async def _head(self, org: str) -> tuple[int, str]:
        cached = self._heads.get(org)
        if cached is not None:
            return cached
        try:
            msg = await self._js.get_last_msg(self._stream, subjects.audit_org(org))
        except NotFoundError:
            return 0, GENESIS
        event = AuditEvent.model_validate_json(msg.data or b"{}")
        return msg.seq or 0, event.hash

    async def append(self, event: AuditEvent) -> AuditEvent:
        """Chain and store one event; AuditUnavailableError if it cannot be written."""
        org = event.organization_id
        lock = self._locks.setdefault(org, asyncio.Lock())
        async with lock:
            for _ in range(_APPEND_ATTEMPTS):
                try:
                    seq, prev_hash = await self._head(org)
                    sealed = seal_event(event, prev_hash)
                    ack = await self._js.publish(
                        subjects.audit(org, event.action),
                        sealed.model_dump_json().encode(),
                        stream=self._stream,
                        headers={
                            "Nats-Msg-Id": event.id,
                            "Nats-Expected-Last-Subject-Sequence": str(seq),
                            "Nats-Expected-Last-Subject-Sequence-Subject": subjects.audit_org(org),
                        },
                    )
                except BadRequestError as err:
                    self._heads.pop(org, None)
                    if err.err_code == _WRONG_LAST_SEQUENCE:
                        continue  # another replica appended first: re-read the head
                    raise AuditUnavailableError("audit record could not be written") from err
                except (JsError, TimeoutError) as err:
                    self._heads.pop(org, None)
                    raise AuditUnavailableError("audit record could not be written") from err
                self._heads[org] = (ack.seq, sealed.hash)
                return sealed
        raise AuditUnavailableError("audit chain is contended; try again")

    async def events(
        self, organization_id: str, *, after: int
    ) -> AsyncIterator[tuple[int, AuditEvent]]:
        """One organization's events in stream order, starting after sequence ``after``."""
        filter_subject = subjects.audit_org(organization_id)
        try:
            last = await self._js.get_last_msg(self._stream, filter_subject)
        except NotFoundError:
            return
        except (JsError, TimeoutError) as err:
            raise AuditUnavailableError("audit stream does not answer") from err
        if (last.seq or 0) <= after:
            return
        sub = await self._js.subscribe(
            filter_subject,
            stream=self._stream,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
            ),
        )
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=_READ_TIMEOUT)
                except TimeoutError as err:  # nats-py's TimeoutError subclasses it
                    raise AuditUnavailableError("audit stream read timed out; retry") from err
                seq = msg.metadata.sequence.stream
                yield seq, AuditEvent.model_validate(json.loads(msg.data))
                if seq >= (last.seq or 0) or msg.metadata.num_pending == 0:
                    return
        finally:
            await sub.unsubscribe()
