"""The redactor: fail-closed redaction of raw records, and masked pages of stored logs."""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from pydantic import ValidationError

from sigil_redactor.domain.kernel import Redactor
from sigil_redactor.domain.matchers import MatcherCache
from sigil_shared import subjects
from sigil_shared.contracts import (
    LogEntry,
    LogPageReply,
    LogPageRequest,
    LogRecord,
    PinnedVersion,
    RenderReceipt,
)
from sigil_shared.contracts.logs import LOG_BODY_MAX
from sigil_shared.errors import NotFoundError, SigilError

log = logging.getLogger("sigil.redactor")


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


class ReceiptReader(Protocol):
    async def receipts(self, org: str, deployment: str) -> list[RenderReceipt]: ...


class ValuesSource(Protocol):
    async def values(
        self, org: str, customer: str | None, pinned: list[PinnedVersion]
    ) -> list[str]: ...


class LogStore(Protocol):
    async def store(self, org: str, deployment: str, data: bytes, *, msg_id: str) -> None: ...

    async def page(
        self, org: str, deployment: str, *, before: int | None, after: int | None, limit: int
    ) -> list[LogEntry]: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def backoff(deliveries: int) -> float:
    """Seconds before a held record is tried again (0.5 s doubling, at most 30 s)."""
    return float(min(30.0, 0.5 * 2 ** max(0, deliveries - 1)))


def parse_record(data: bytes, deployment: str, now: datetime) -> LogRecord:
    """The record; anything malformed is kept whole as the body (it is redacted all the same)."""
    try:
        return LogRecord.model_validate_json(data)
    except ValidationError:
        text = data.decode("utf-8", "replace")[:LOG_BODY_MAX]
        return LogRecord(deployment_id=deployment, timestamp=now, severity="unparsed", body=text)


@dataclass
class Counters:
    """What the redactor has done since start (for health and metrics)."""

    redacted: int = 0
    held: int = 0
    bytes_in: int = 0


class RedactorService:
    """Redacts raw records per deployment and serves masked pages."""

    def __init__(
        self,
        *,
        receipts: ReceiptReader,
        values: ValuesSource,
        logs: LogStore,
        min_length: int,
        cache_size: int,
        meter: Meter | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._receipts = receipts
        self._values = values
        self._logs = logs
        self._min_length = min_length
        self._clock = clock
        self.matchers = MatcherCache(self._build, size=cache_size)
        self.counters = Counters()
        self.last_failure: str | None = None
        self.backlog = 0
        meter = meter or metrics.get_meter("sigil.redactor")
        self._lines = meter.create_counter(
            "sigil.redactor.lines", unit="{line}", description="Log lines by outcome"
        )
        self._bytes = meter.create_counter(
            "sigil.redactor.bytes", unit="By", description="Raw log bytes redacted"
        )
        meter.create_observable_gauge(
            "sigil.redactor.backlog",
            callbacks=[self._observe_backlog],
            unit="{record}",
            description="Raw records waiting in the work queue",
        )

    def _observe_backlog(self, options: CallbackOptions) -> Iterable[Observation]:
        del options
        return [Observation(self.backlog)]

    async def _deployment(
        self, org: str, deployment: str
    ) -> tuple[str | None, list[PinnedVersion]]:
        receipts = await self._receipts.receipts(org, deployment)
        pinned = {
            (e.key, e.customer_organization_id, e.version): PinnedVersion(
                key=e.key, customer_organization_id=e.customer_organization_id, version=e.version
            )
            for r in receipts
            for e in r.secrets
        }
        customer = receipts[-1].customer_organization_id if receipts else None
        return customer, list(pinned.values())

    async def _build(self, org: str, deployment: str, customer_hint: str | None) -> Redactor:
        customer, pinned = await self._deployment(org, deployment)
        values = await self._values.values(org, customer or customer_hint, pinned)
        return Redactor(values, min_length=self._min_length)

    async def process(self, messages: list[RawMessage]) -> None:
        """Redact a batch; a record is acked only after its redacted form is stored."""
        now = self._clock()
        groups: dict[tuple[str, str], list[tuple[RawMessage, LogRecord]]] = defaultdict(list)
        for msg in messages:
            parts = subjects.logs_raw_parts(msg.subject)
            if parts is None:
                await msg.nak(backoff(msg.deliveries))
                continue
            groups[parts].append((msg, parse_record(msg.data, parts[1], now)))
        stores = []
        for (org, deployment), items in groups.items():
            try:
                redactor = await self.matchers.get(
                    org, deployment, items[0][1].customer_organization_id
                )
            except SigilError as err:
                # Fail closed: nothing is forwarded; the records wait and come back.
                self.last_failure = err.message
                self.counters.held += len(items)
                self._lines.add(len(items), {"outcome": "held"})
                await asyncio.gather(*(m.nak(backoff(m.deliveries)) for m, _ in items))
                continue
            self.last_failure = None
            for msg, record in items:
                body = redactor.redact(record.body)
                self.counters.bytes_in += len(msg.data)
                self._bytes.add(len(msg.data))
                redacted = record.model_copy(update={"body": body, "deployment_id": deployment})
                stores.append((msg, org, deployment, redacted.model_dump_json().encode()))
        results = await asyncio.gather(
            *(
                self._logs.store(org, dep, data, msg_id=f"raw-{msg.sequence}")
                for msg, org, dep, data in stores
            ),
            return_exceptions=True,
        )
        for (msg, *_), result in zip(stores, results, strict=True):
            if isinstance(result, BaseException):
                self.counters.held += 1
                self._lines.add(1, {"outcome": "held"})
                await msg.nak(backoff(msg.deliveries))
            else:
                self.counters.redacted += 1
                self._lines.add(1, {"outcome": "redacted"})
                await msg.ack()

    async def page(self, req: LogPageRequest) -> LogPageReply:
        """A page of stored logs, masked again with the current values (second pass)."""
        org, deployment = req.actor.organization_id, req.deployment_id
        customer, _ = await self._deployment(org, deployment)
        entries = await self._logs.page(
            org, deployment, before=req.before, after=req.after, limit=req.limit
        )
        if customer is None and entries:
            customer = entries[0].record.customer_organization_id
        own = req.actor.customer_organization_id
        if own is not None and customer != own:
            raise NotFoundError("deployment not found")
        redactor = await self.matchers.get(org, deployment, customer)
        items = [
            LogEntry(
                sequence=e.sequence,
                record=e.record.model_copy(update={"body": redactor.redact(e.record.body)}),
            )
            for e in entries
        ]
        return LogPageReply(
            items=items,
            next_before=items[0].sequence if len(items) == req.limit else None,
            next_after=items[-1].sequence if items else req.after,
        )

    def secret_changed(self, org: str) -> None:
        """Values of ``org`` changed."""
        self.matchers.invalidate_organization(org)

    def receipt_recorded(self, org: str, deployment: str) -> None:
        """A deployment was rendered again."""
        self.matchers.invalidate(org, deployment)

    def health(self) -> dict[str, str]:
        """Ready unless matchers cannot be built (records are then held, not forwarded)."""
        if self.last_failure:
            return {"redaction": f"holding records: {self.last_failure}"}
        return {"redaction": "ok"}
