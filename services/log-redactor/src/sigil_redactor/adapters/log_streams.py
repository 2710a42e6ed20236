"""The redacted log stream: batched writes and record-by-record, byte-bounded reads."""

import json
import logging
from collections import deque
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from sigil_redactor.service import StoredPage
from sigil_shared import subjects
from sigil_shared.contracts import LogEntry
from sigil_shared.contracts.logs import SEQUENCE_SHIFT, entry_sequence, stored_records
from sigil_shared.errors import UnavailableError
from sigil_shared.jetstream import scan_rows

log = logging.getLogger("sigil.redactor.streams")
#: How many records a stored message holds (so newest-first pages parse only what they keep).
_RECORDS_HEADER = "Sigil-Records"
_INDEX_MASK = (1 << SEQUENCE_SHIFT) - 1


class RedactedLogStore:
    """Stores redacted batches and pages them record by record, bounded in count and bytes."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._js = nc.jetstream()

    @property
    def max_payload(self) -> int:
        """The server's max payload (from its INFO), which every message must fit."""
        return int(self._nc.max_payload)

    async def store(
        self, org: str, deployment: str, data: bytes, *, msg_id: str, records: int
    ) -> None:
        """Publish with a message id, so a redelivered raw message is stored once."""
        await self._js.publish(
            subjects.logs_redacted(org, deployment),
            data,
            stream=subjects.LOGS_REDACTED_STREAM,
            headers={"Nats-Msg-Id": msg_id, _RECORDS_HEADER: str(records)},
        )

    async def page(
        self,
        org: str,
        deployment: str,
        *,
        before: int | None,
        after: int | None,
        limit: int,
        max_bytes: int,
    ) -> StoredPage:
        """Records after ``after`` (oldest first) or the newest before ``before``."""
        subject = subjects.logs_redacted(org, deployment)
        try:
            if after is not None:
                return await self._after(subject, after, limit, max_bytes)
            return await self._before(subject, before, limit, max_bytes)
        except NotFoundError:
            return StoredPage(entries=[], more=False)
        except (JsError, TimeoutError) as err:
            raise UnavailableError("redacted logs are unavailable") from err

    async def _after(self, subject: str, after: int, limit: int, max_bytes: int) -> StoredPage:
        entries: list[LogEntry] = []
        size = 0
        more = False

        def on_row(seq: int, data: bytes, count: int) -> bool:
            nonlocal size, more
            share = len(data) // max(1, count)
            for index, record in enumerate(stored_records(data)):
                sequence = entry_sequence(seq, index)
                if sequence <= after:
                    continue
                if len(entries) >= limit or (entries and size >= max_bytes):
                    more = True
                    return False
                entries.append(LogEntry(sequence=sequence, record=record))
                size += share
            return True

        await _scan(
            self._nc, self._js, subject, start_seq=max(1, after >> SEQUENCE_SHIFT), on_row=on_row
        )
        return StoredPage(entries=entries, more=more)

    async def _before(
        self, subject: str, before: int | None, limit: int, max_bytes: int
    ) -> StoredPage:
        """The newest records before ``before``: read backwards in growing windows of stream
        sequences (the server filters by subject), never the deployment's whole history."""
        if before is None:
            last = await self._js.get_last_msg(subjects.LOGS_REDACTED_STREAM, subject)
            upper = int(last.seq or 0)
        else:
            upper = before >> SEQUENCE_SHIFT
        # Stored messages are batches, so a few messages usually hold the page.
        window = min(256, limit + 8)
        while True:
            lower = max(1, upper - window + 1)
            kept, dropped = await self._window(
                subject, lower=lower, upper=upper, before=before, limit=limit, max_bytes=max_bytes
            )
            records = sum(count for _, _, count in kept)
            size = sum(len(data) for _, data, _ in kept)
            if dropped or lower == 1 or records >= limit or size >= max_bytes:
                break
            window *= 8
        entries = [
            LogEntry(sequence=entry_sequence(seq, index), record=record)
            for seq, data, _ in kept
            for index, record in enumerate(stored_records(data))
            if before is None or entry_sequence(seq, index) < before
        ]
        more = dropped or len(entries) > limit or lower > 1
        return StoredPage(entries=entries[-limit:], more=more)

    async def _window(
        self,
        subject: str,
        *,
        lower: int,
        upper: int,
        before: int | None,
        limit: int,
        max_bytes: int,
    ) -> tuple[deque[tuple[int, bytes, int]], bool]:
        """Messages of ``subject`` in ``[lower, upper]``, trimmed to the newest that hold
        ``limit`` records or ``max_bytes``; and whether older ones were dropped."""
        kept: deque[tuple[int, bytes, int]] = deque()
        records = 0
        size = 0
        dropped = False

        def on_row(seq: int, data: bytes, count: int) -> bool:
            nonlocal records, size, dropped
            if seq > upper:
                return False
            if before is not None and seq == upper:
                count = min(count, before & _INDEX_MASK)
            kept.append((seq, data, count))
            records += count
            size += len(data)
            while len(kept) > 1 and (
                records - kept[0][2] >= limit or size - len(kept[0][1]) >= max_bytes
            ):
                _, old, old_count = kept.popleft()
                records -= old_count
                size -= len(old)
                dropped = True
            return seq < upper

        await _scan(self._nc, self._js, subject, start_seq=lower, on_row=on_row)
        return kept, dropped


async def _scan(
    nc: NatsClient,
    js: JetStreamContext,
    subject: str,
    *,
    start_seq: int | None,
    on_row: Callable[[int, bytes, int], bool],
) -> None:
    """Feed ``(stream sequence, data, records)`` of the subject's messages to ``on_row``."""

    def on_msg(seq: int, msg: Msg) -> bool:
        header = (msg.headers or {}).get(_RECORDS_HEADER)
        count = int(header) if header and header.isdigit() else _count(msg.data)
        try:
            return on_row(seq, msg.data, count)
        except (ValueError, ValidationError):
            log.error("a stored message of %s is not a record batch; skipped", subject)
            return True

    await scan_rows(
        nc, js, subjects.LOGS_REDACTED_STREAM, subject, on_row=on_msg, start_seq=start_seq
    )


def _count(data: bytes) -> int:
    """Records in a stored message without the count header (written before batches)."""
    if data[:1] != b"[":
        return 1
    try:
        return len(json.loads(data))
    except ValueError:
        return 1
