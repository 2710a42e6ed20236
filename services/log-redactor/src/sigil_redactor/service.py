"""The redactor: fail-closed redaction of raw batches, and byte-bounded masked pages."""

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from sigil_redactor.domain.kernel import MASK, Redactor
from sigil_redactor.domain.matchers import MatcherCache, Scope
from sigil_redactor.domain.records import (
    Draft,
    encode,
    pack,
    parse_message,
    redact_records,
    size_bound,
)
from sigil_shared import subjects
from sigil_shared.contracts import (
    LogEntry,
    LogPageReply,
    LogPageRequest,
    LogRecord,
    PinnedVersion,
    RenderReceipt,
)
from sigil_shared.contracts.logs import (
    ATTRIBUTE_KEY_MAX,
    ATTRIBUTE_VALUE_MAX,
    RESOURCE_MAX,
    SEVERITY_MAX,
)
from sigil_shared.errors import NotFoundError, SigilError
from sigil_shared.turns import Turn

log = logging.getLogger("sigil.redactor")

_MIB = 1024 * 1024
#: Masked together in one kernel scan (and between two, the loop serves others).
_SCAN_CHUNK_BYTES = 4 * _MIB
#: Organization and deployment ids (ARCHITECTURE "The secret model"); ASCII only.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class RawMessage(Protocol):
    """What the redactor needs of a JetStream message."""

    subject: str
    data: bytes

    @property
    def sequence(self) -> int: ...

    @property
    def deliveries(self) -> int: ...

    async def ack(self) -> None: ...

    async def nak(self, delay: float) -> None: ...

    async def term(self) -> None: ...


class ReceiptReader(Protocol):
    async def receipts(self, org: str, deployment: str) -> list[RenderReceipt]: ...


class ValuesSource(Protocol):
    async def values(
        self,
        org: str,
        customer: str | None,
        pinned: list[PinnedVersion],
        *,
        all_customers: bool,
    ) -> list[str]: ...


class GenerationReader(Protocol):
    async def current(self, org: str) -> int | None: ...


class _Unversioned:
    """No generation reads (unit tests of other behaviour): change events alone."""

    async def current(self, org: str) -> int | None:
        del org
        return 0


@dataclass
class StoredPage:
    """Records read from the redacted stream, and whether more lie in the direction read."""

    entries: list[LogEntry]
    more: bool


class LogStore(Protocol):
    @property
    def max_payload(self) -> int: ...

    async def store(
        self, org: str, deployment: str, data: bytes, *, msg_id: str, records: int
    ) -> None:
        """Store one batch; the write is queued before the first suspension (order kept)."""
        ...

    async def page(
        self,
        org: str,
        deployment: str,
        *,
        before: int | None,
        after: int | None,
        limit: int,
        max_bytes: int,
    ) -> StoredPage: ...


@dataclass(frozen=True)
class Limits:
    """Sizes derived from the bus's max payload, so no message or reply exceeds it."""

    #: One stored (batch) message of the redacted stream.
    message: int
    #: One redacted record as stored; larger ones are cut (after redaction).
    record: int
    #: The records of one page reply.
    page: int

    @classmethod
    def for_payload(cls, max_payload: int) -> "Limits":
        message = min(max_payload, _MIB) - 64 * 1024
        return cls(message=message, record=message - 1024, page=max_payload - 64 * 1024)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def backoff(deliveries: int) -> float:
    """Seconds before a held record is tried again (0.5 s doubling, at most 30 s)."""
    return float(min(30.0, 0.5 * 2 ** max(0, deliveries - 1)))


@dataclass
class Counters:
    """What the redactor has done since start (for health and metrics)."""

    redacted: int = 0
    held: int = 0
    bytes_in: int = 0
    #: Raw messages refused for their subject (terminated: never stored, never redelivered).
    refused: int = 0


@dataclass
class _Raw:
    msg: RawMessage
    drafts: list[Draft]
    batch: bool
    bounds: list[int] = field(default_factory=list)


@dataclass
class _Part:
    raw: _Raw
    org: str
    deployment: str
    data: bytes
    msg_id: str
    records: int


def raw_target(subject: str) -> tuple[str, str] | None:
    """(org, deployment) of a raw log subject whose ids are well formed, else None."""
    where = subjects.logs_raw_parts(subject)
    if where is None or not all(_ID.fullmatch(part) for part in where):
        return None
    return where


def may_read(actor_customer: str | None, scope: Scope) -> bool:
    """Whether a user of ``actor_customer`` (None: a vendor user) may read the logs.

    The organization's vendor users read every deployment of it. A customer user reads a
    deployment whose newest receipt names its customer; a deployment without receipts
    belongs to no customer that can be established, so only vendor users read it.
    """
    if actor_customer is None:
        return True
    return scope.receipted and scope.customer == actor_customer


def scope_of(receipts: list[RenderReceipt]) -> Scope:
    """A deployment's scope from its receipts: the newest one's customer, every pin."""
    pinned = frozenset(
        (e.key, e.customer_organization_id, e.version) for r in receipts for e in r.secrets
    )
    if not receipts:
        return Scope(customer=None, all_customers=True, pinned=pinned, receipted=False)
    customer = receipts[-1].customer_organization_id
    return Scope(customer=customer, all_customers=False, pinned=pinned, receipted=True)


class RedactorService:
    """Redacts raw batches per deployment and serves masked pages."""

    def __init__(
        self,
        *,
        receipts: ReceiptReader,
        values: ValuesSource,
        logs: LogStore,
        min_length: int,
        cache_size: int,
        generations: GenerationReader | None = None,
        meter: Meter | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._receipts = receipts
        self._generations = generations or _Unversioned()
        self._values = values
        self._logs = logs
        self._clock = clock
        self.limits = Limits.for_payload(logs.max_payload)
        # A mask is 8 bytes for at least ``min_length`` characters of a value.
        self._expansion = max(1.0, len(MASK) / min_length)
        self.matchers = MatcherCache(
            scope=self._scope, values=self._scope_values, min_length=min_length, size=cache_size
        )
        self.counters = Counters()
        self.last_failure: str | None = None
        self.backlog = 0
        meter = meter or metrics.get_meter("sigil.redactor")
        self._lines = meter.create_counter(
            "sigil.redactor.lines", unit="{line}", description="Log records by outcome"
        )
        self._bytes = meter.create_counter(
            "sigil.redactor.bytes", unit="By", description="Raw log bytes redacted"
        )
        self._refused = meter.create_counter(
            "sigil.redactor.refused",
            unit="{message}",
            description="Raw messages refused for a malformed subject or id (terminated)",
        )
        meter.create_observable_gauge(
            "sigil.redactor.backlog",
            callbacks=[self._observe_backlog],
            unit="{message}",
            description="Raw messages waiting in the work queue",
        )

    def _observe_backlog(self, options: CallbackOptions) -> Iterable[Observation]:
        del options
        return [Observation(self.backlog)]

    async def _scope(self, org: str, deployment: str) -> Scope:
        return scope_of(await self._receipts.receipts(org, deployment))

    async def _scope_values(self, org: str, scope: Scope) -> list[str]:
        pinned = [
            PinnedVersion(key=key, customer_organization_id=customer, version=version)
            for key, customer, version in sorted(scope.pinned, key=str)
        ]
        return await self._values.values(
            org, scope.customer, pinned, all_customers=scope.all_customers
        )

    async def _hold(self, raws: list[_Raw], reason: str) -> None:
        # Fail closed: nothing is forwarded; the messages wait and come back.
        self.last_failure = reason
        count = sum(len(r.drafts) for r in raws)
        self.counters.held += count
        self._lines.add(count, {"outcome": "held"})
        await asyncio.gather(*(r.msg.nak(backoff(r.msg.deliveries)) for r in raws))

    def _parts(
        self, org: str, deployment: str, raw: _Raw, stored: list[dict[str, Any]]
    ) -> list[_Part]:
        seq = raw.msg.sequence
        if not raw.batch:
            return [_Part(raw, org, deployment, encode(stored[0]), f"raw-{seq}", 1)]
        parts = []
        for start, end in pack(raw.bounds, self.limits.message):
            msg_id = f"raw-{seq}" if start == 0 else f"raw-{seq}-{start}"
            data = encode(stored[start:end])
            parts.append(_Part(raw, org, deployment, data, msg_id, end - start))
        return parts

    async def _redact_group(
        self, org: str, deployment: str, raws: list[_Raw], redactor: Redactor
    ) -> list[_Part]:
        parts: list[_Part] = []
        chunk: list[_Raw] = []
        size = 0
        for index, raw in enumerate(raws):
            chunk.append(raw)
            size += len(raw.msg.data)
            if size < _SCAN_CHUNK_BYTES and index + 1 < len(raws):
                continue
            drafts = [d for r in chunk for d in r.drafts]
            for r in chunk:
                r.bounds = [
                    size_bound(d, expansion=self._expansion, max_bytes=self.limits.record)
                    for d in r.drafts
                ]
            stored = redact_records(
                drafts,
                redactor.redact_many,
                max_bytes=self.limits.record,
                expansion=self._expansion,
            )
            position = 0
            for r in chunk:
                count = len(r.drafts)
                if count:
                    parts.extend(
                        self._parts(org, deployment, r, stored[position : position + count])
                    )
                position += count
            chunk, size = [], 0
            await asyncio.sleep(0)  # let other work run between large scans
        return parts

    async def _redact_groups(
        self, groups: dict[tuple[str, str], list[_Raw]]
    ) -> tuple[list[_Part], list[_Raw]]:
        """Each group redacted with its matcher (held if there is none), in group order."""
        parts: list[_Part] = []
        done: list[_Raw] = []
        # Read after these messages arrived: a matcher older than this is rebuilt (C2).
        orgs = sorted({org for org, _ in groups})
        found = await asyncio.gather(*(self._generations.current(org) for org in orgs))
        generation = dict(zip(orgs, found, strict=True))
        # Every group's matcher is looked up (and built, on its own thread) at once: a slow
        # build for one organization is waited for once, not before each other group's.
        lookups = {
            key: asyncio.ensure_future(self.matchers.get(key[0], key[1], generation[key[0]]))
            for key in groups
        }
        try:
            for (org, deployment), raws in groups.items():
                try:
                    redactor = await lookups[(org, deployment)]
                except SigilError as err:
                    await self._hold(raws, err.message)
                    continue
                self.last_failure = None
                parts.extend(await self._redact_group(org, deployment, raws, redactor))
                done.extend(raws)
        finally:
            for lookup in lookups.values():  # left behind only when this was interrupted
                if not lookup.done():
                    lookup.cancel()
                elif not lookup.cancelled():
                    lookup.exception()  # retrieved: it was awaited, or this is unwinding
        return parts, done

    async def process(self, messages: list[RawMessage], *, turn: Turn | None = None) -> None:
        """Redact fetched messages; each is acked only after all its records are stored.

        With ``turn`` (the consumer's fetches overlap), the stores are issued only once the
        earlier fetches of the same deployments issued theirs: records stay in raw order.
        """
        now = self._clock().isoformat()
        groups: dict[tuple[str, str], list[_Raw]] = defaultdict(list)
        refused = 0
        for msg in messages:
            where = raw_target(msg.subject)
            if where is None:
                # No deployment can own it: terminated, never stored, never redelivered.
                await msg.term()
                refused += 1
                continue
            drafts, batch = parse_message(msg.data, where[1], now)
            groups[where].append(_Raw(msg, drafts, batch))
        if refused:
            # Neither the subject nor the data is quoted: either may carry a secret.
            self.counters.refused += refused
            self._refused.add(refused)
            log.warning(
                "refused %d raw log message(s): subject is not sigil.logs.raw.<org>.<deployment>"
                " with well-formed ids (terminated, not stored)",
                refused,
            )
        parts, done = await self._redact_groups(groups)
        if turn is not None and parts:
            await turn.wait()
        # gather schedules the stores now, in order, and each queues its publish on the
        # connection before its first suspension; the next fetch, woken by ``end`` after
        # them, queues its publishes behind these while these wait for their acks.
        storing = asyncio.gather(
            *(
                self._logs.store(p.org, p.deployment, p.data, msg_id=p.msg_id, records=p.records)
                for p in parts
            ),
            return_exceptions=True,
        )
        if turn is not None:
            turn.end()
        results = await storing
        failed = {
            id(p.raw) for p, r in zip(parts, results, strict=True) if isinstance(r, BaseException)
        }
        for raw in done:
            count = len(raw.drafts)
            if id(raw) in failed:
                self.counters.held += count
                self._lines.add(count, {"outcome": "held"})
                await raw.msg.nak(backoff(raw.msg.deliveries))
                continue
            self.counters.redacted += count
            self.counters.bytes_in += len(raw.msg.data)
            self._lines.add(count, {"outcome": "redacted"})
            self._bytes.add(len(raw.msg.data))
            await raw.msg.ack()

    def _second_pass(self, redactor: Redactor, entries: list[LogEntry]) -> list[LogEntry]:
        """Mask stored records again with the current values, then cut what grew too big."""
        texts: list[str] = []
        for entry in entries:
            record = entry.record
            texts.append(record.body)
            texts.append(record.resource or "")
            texts.append(record.severity or "")
            for key, value in (record.attributes or {}).items():
                texts.extend((key, value))
        masked = redactor.redact_many(texts)
        out: list[LogEntry] = []
        position = 0
        for entry in entries:
            record = entry.record
            body, resource, severity = masked[position : position + 3]
            position += 3
            attributes = None
            if record.attributes is not None:
                attributes = {}
                for _ in record.attributes:
                    key = masked[position][:ATTRIBUTE_KEY_MAX]
                    value = masked[position + 1][:ATTRIBUTE_VALUE_MAX]
                    position += 2
                    while key in attributes:
                        key = f"{key}~"
                    attributes[key] = value
            changed = LogRecord.model_validate(
                record.model_dump()
                | {
                    "body": body,
                    "resource": resource[:RESOURCE_MAX] if record.resource is not None else None,
                    "severity": severity[:SEVERITY_MAX] if record.severity is not None else None,
                    "attributes": attributes,
                    # Stored before it was dropped at intake: not shown (records.py).
                    "customerOrganizationId": None,
                }
            )
            out.append(LogEntry(sequence=entry.sequence, record=self._fit(changed)))
        return out

    def _fit(self, record: LogRecord) -> LogRecord:
        size = len(record.model_dump_json())
        if size <= self.limits.record:
            return record
        # Room for the flag too; each character removed removes at least one byte.
        excess = size - self.limits.record + len(',"truncated":true')
        body = record.body[: max(0, len(record.body) - excess)]
        return record.model_copy(update={"body": body, "truncated": True})

    async def page(self, req: LogPageRequest) -> LogPageReply:
        """A page of stored logs, masked again with the current values (second pass).

        At most ``limit`` records and at most the bus's payload in bytes; ``more`` says
        whether the reader should continue from the cursor.
        """
        org, deployment = req.actor.organization_id, req.deployment_id
        generation = await self._generations.current(org)
        # Who may read is decided per deployment, from its receipts read now (never from
        # the records, nor a cached scope), before any record is read: page, export and
        # the stream's authorization all come here.
        scope = scope_of(await self._receipts.receipts(org, deployment))
        if not may_read(req.actor.customer_organization_id, scope):
            raise NotFoundError("deployment not found")
        cached = self.matchers.cached_scope(org, deployment)
        if cached is not None and cached != scope:
            self.matchers.invalidate(org, deployment)  # a receipt event not seen yet
        stored = await self._logs.page(
            org,
            deployment,
            before=req.before,
            after=req.after,
            limit=req.limit,
            max_bytes=self.limits.page,
        )
        redactor = await self.matchers.get(org, deployment, generation)
        items = self._second_pass(redactor, stored.entries)
        items, trimmed = self._within_budget(items, newest_first=req.after is None)
        more = stored.more or trimmed
        if req.after is None:
            return LogPageReply(
                items=items,
                next_before=items[0].sequence if items and more else None,
                next_after=items[-1].sequence if items else None,
                more=more,
            )
        return LogPageReply(
            items=items,
            next_before=items[0].sequence if items else None,
            next_after=items[-1].sequence if items else req.after,
            more=more,
        )

    def _within_budget(
        self, items: list[LogEntry], *, newest_first: bool
    ) -> tuple[list[LogEntry], bool]:
        """Keep whole entries up to the page budget, from the end the reader starts at."""
        ordered = list(reversed(items)) if newest_first else items
        kept: list[LogEntry] = []
        total = 0
        for entry in ordered:
            size = len(entry.model_dump_json()) + 1
            if kept and total + size > self.limits.page:
                break
            kept.append(entry)
            total += size
        trimmed = len(kept) < len(items)
        return (list(reversed(kept)) if newest_first else kept), trimmed

    def secret_changed(self, org: str) -> None:
        """Values of ``org`` changed (created, updated or deleted)."""
        self.matchers.invalidate_organization(org)

    def receipt_recorded(self, org: str, deployment: str) -> None:
        """A deployment was rendered again."""
        self.matchers.invalidate(org, deployment)

    def health(self) -> dict[str, str]:
        """Ready unless matchers cannot be built (records are then held, not forwarded)."""
        if self.last_failure:
            return {"redaction": f"holding records: {self.last_failure}"}
        return {"redaction": "ok"}
