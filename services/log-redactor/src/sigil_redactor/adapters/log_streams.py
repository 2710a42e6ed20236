"""The raw work queue and the redacted log stream, and reads of the latter."""

import logging
from collections import deque

from nats.aio.client import Client as NatsClient
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from sigil_shared import subjects
from sigil_shared.contracts import LogEntry, LogRecord
from sigil_shared.errors import UnavailableError
from sigil_shared.jetstream import scan
from sigil_shared.settings import RedactorSettings

log = logging.getLogger("sigil.redactor.streams")
_HEADROOM = 64 * 1024


async def ensure_streams(nc: NatsClient, settings: RedactorSettings) -> None:
    """Create the raw work queue and the redacted stream if they do not exist."""
    js = nc.jetstream()
    configs = [
        StreamConfig(
            name=subjects.LOGS_RAW_STREAM,
            subjects=[subjects.LOGS_RAW_ALL],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            num_replicas=settings.js_replicas,
            max_age=settings.raw_max_age,
            max_msg_size=1024 * 1024 + _HEADROOM,
            description="Raw deployment log lines waiting for redaction (work queue)",
        ),
        StreamConfig(
            name=subjects.LOGS_REDACTED_STREAM,
            subjects=[subjects.LOGS_REDACTED_ALL],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=settings.js_replicas,
            max_age=settings.redacted_max_age,
            max_bytes=settings.redacted_max_bytes,
            duplicate_window=120,
            description="Redacted deployment log lines",
        ),
    ]
    try:
        for config in configs:
            try:
                await js.stream_info(config.name or "")
            except NotFoundError:
                await js.add_stream(config)
    except (JsError, TimeoutError) as err:
        raise UnavailableError("log streams are unavailable") from err


class RedactedLogStore:
    """Stores and pages redacted records."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._js = nc.jetstream()

    async def store(self, org: str, deployment: str, data: bytes, *, msg_id: str) -> None:
        """Publish with a message id, so a redelivered raw record is stored once."""
        await self._js.publish(
            subjects.logs_redacted(org, deployment),
            data,
            stream=subjects.LOGS_REDACTED_STREAM,
            headers={"Nats-Msg-Id": msg_id},
        )

    async def page(
        self, org: str, deployment: str, *, before: int | None, after: int | None, limit: int
    ) -> list[LogEntry]:
        """Entries after ``after`` (oldest first) or the newest before ``before``."""
        subject = subjects.logs_redacted(org, deployment)
        try:
            if after is not None:
                rows = await scan(
                    self._nc,
                    self._js,
                    subjects.LOGS_REDACTED_STREAM,
                    subject,
                    start_seq=after + 1,
                    limit=limit,
                )
            else:
                rows = await scan(self._nc, self._js, subjects.LOGS_REDACTED_STREAM, subject)
                kept: deque[tuple[str, int, bytes]] = deque(maxlen=limit)
                for row in rows:
                    if before is None or row[1] < before:
                        kept.append(row)
                rows = list(kept)
        except NotFoundError:
            return []
        except (JsError, TimeoutError) as err:
            raise UnavailableError("redacted logs are unavailable") from err
        return [
            LogEntry(sequence=seq, record=LogRecord.model_validate_json(data))
            for _, seq, data in rows
        ]
