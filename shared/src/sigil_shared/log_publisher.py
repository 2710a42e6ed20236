"""Batching log publisher for platform agents: records onto the redactor's raw work queue.

One NATS message per log line caps the pipeline near 5,000 lines/s; the redactor takes a
JSON array of records per message instead (at most 1 MiB). ``LogPublisher`` packs records
into such arrays and publishes them with JetStream publish (each awaited for its ack, a few
in flight at once)::

    async with LogPublisher(nc.jetstream(), "acme", "web") as logs:
        await logs.add_line("GET / 200")                    # body only, timestamp now
        await logs.add(LogRecord(deployment_id="web", timestamp=now, body="...", severity="info"))
    # leaving the block publishes what is pending and waits for every ack

A record whose JSON alone exceeds the message limit is refused (``RecordTooLargeError``),
never cut: a cut before redaction could split a secret and leave its prefix visible.
"""

import asyncio
import json
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from nats.js import JetStreamContext

from sigil_shared import subjects
from sigil_shared.contracts.logs import RAW_MESSAGE_MAX, LogRecord

#: Room left in a message for the array brackets and NATS headers.
_HEADROOM = 4 * 1024
BATCH_MAX_BYTES = RAW_MESSAGE_MAX - _HEADROOM
BATCH_MAX_RECORDS = 20_000


class RecordTooLargeError(ValueError):
    """One record's JSON does not fit in a message; it was not published."""

    def __init__(self, size: int) -> None:
        super().__init__(f"log record of {size} bytes exceeds the {BATCH_MAX_BYTES}-byte limit")
        self.size = size


class LogPublisher:
    """Batches records of one deployment into JSON arrays of at most ``max_bytes``."""

    def __init__(
        self,
        js: JetStreamContext,
        organization_id: str,
        deployment_id: str,
        *,
        max_bytes: int = BATCH_MAX_BYTES,
        max_records: int = BATCH_MAX_RECORDS,
        in_flight: int = 4,
        timeout: float = 10.0,
    ) -> None:
        self._js = js
        self._subject = subjects.logs_raw(organization_id, deployment_id)
        self._deployment = deployment_id
        self._max_bytes = min(max_bytes, BATCH_MAX_BYTES)
        self._max_records = max_records
        self._in_flight = in_flight
        self._timeout = timeout
        self._pending: list[bytes] = []
        self._size = 2
        self._sending: list[asyncio.Task[object]] = []
        self.published = 0

    @property
    def pending(self) -> int:
        """Records added but not yet handed to the bus."""
        return len(self._pending)

    async def add(self, record: LogRecord) -> None:
        """Queue one record (validated by its contract); publish when a batch is full."""
        await self._add(record.model_dump_json(exclude_none=True).encode())

    async def add_line(
        self,
        body: str,
        *,
        severity: str | None = None,
        resource: str | None = None,
        attributes: dict[str, str] | None = None,
        timestamp: datetime | None = None,
        customer_organization_id: str | None = None,
        revision: int | None = None,
    ) -> None:
        """Queue one line as a record (timestamp now unless given); no model round trip."""
        doc: dict[str, Any] = {
            "deploymentId": self._deployment,
            "timestamp": (timestamp or datetime.now(UTC)).isoformat(),
            "body": body,
        }
        if severity is not None:
            doc["severity"] = severity
        if resource is not None:
            doc["resource"] = resource
        if attributes:
            doc["attributes"] = attributes
        if customer_organization_id is not None:
            doc["customerOrganizationId"] = customer_organization_id
        if revision is not None:
            doc["revision"] = revision
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        await self._add(data.encode("utf-8", "surrogatepass"))

    async def _add(self, data: bytes) -> None:
        if len(data) + 2 > self._max_bytes:
            raise RecordTooLargeError(len(data))
        if self._pending and (
            self._size + len(data) + 1 > self._max_bytes or len(self._pending) >= self._max_records
        ):
            await self.flush()
        self._pending.append(data)
        self._size += len(data) + 1

    async def flush(self) -> None:
        """Hand the pending batch to the bus (waits only when too many are in flight)."""
        if not self._pending:
            return
        payload = b"[" + b",".join(self._pending) + b"]"
        count = len(self._pending)
        self._pending, self._size = [], 2
        self._sending.append(asyncio.ensure_future(self._publish(payload, count)))
        while len(self._sending) >= self._in_flight:
            await self._sending.pop(0)

    async def _publish(self, payload: bytes, count: int) -> object:
        ack = await self._js.publish(self._subject, payload, timeout=self._timeout)
        self.published += count
        return ack

    async def close(self) -> None:
        """Publish what is pending and wait for every ack (raises the first failure)."""
        await self.flush()
        sending, self._sending = self._sending, []
        results = await asyncio.gather(*sending, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.close()
        else:
            for task in self._sending:
                task.cancel()
