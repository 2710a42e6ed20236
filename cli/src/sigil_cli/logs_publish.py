"""``sigil logs publish DEPLOYMENT``: lines from stdin to the redactor, batched (contract C4).

Argument parsing lives with the CLI's commands; this module only connects as the platform
user, reads lines and hands them to ``sigil_shared.log_publisher.LogPublisher``.
"""

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from typing import BinaryIO

import nats

from sigil_shared import subjects
from sigil_shared.log_publisher import BATCH_MAX_BYTES, LogPublisher, RecordTooLargeError

_CHUNK = 256 * 1024


@dataclass
class PublishSummary:
    """What one run published, and the lines it refused (too long to fit in a message)."""

    published: int = 0
    refused: int = 0


async def _chunks(source: BinaryIO, queue: asyncio.Queue[bytes]) -> None:
    # Reads block, so they run on a thread — per 256 KiB chunk, not per line.
    read = getattr(source, "read1", source.read)
    while True:
        chunk: bytes = await asyncio.to_thread(read, _CHUNK)
        await queue.put(chunk)
        if not chunk:
            return


async def publish_stdin(
    *,
    servers: list[str],
    user: str | None,
    password: str | None,
    organization_id: str,
    deployment_id: str,
    source: BinaryIO | None = None,
    severity: str | None = None,
    resource: str | None = None,
    customer_organization_id: str | None = None,
    revision: int | None = None,
    idle_flush: float = 0.2,
) -> PublishSummary:
    """Publish each line of ``source`` (stdin by default) as one record until end of input.

    Lines are batched; a batch also goes out when input pauses for ``idle_flush`` seconds,
    so a tail shows up promptly. A line longer than a message can hold is refused whole
    (counted, never cut: a cut could split a secret). Returns the counts; raises nats-py's
    errors if the bus refuses or does not acknowledge a batch.
    """
    stream = source if source is not None else sys.stdin.buffer
    summary = PublishSummary()
    # Private inboxes: a user may subscribe only under its own prefix (JetStream acks too).
    inbox = subjects.inbox_prefix(user) if user else "_INBOX"
    nc = await nats.connect(servers=servers, user=user, password=password, inbox_prefix=inbox)
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=8)
    reader = asyncio.create_task(_chunks(stream, queue))
    try:
        async with LogPublisher(nc.jetstream(), organization_id, deployment_id) as logs:

            async def emit(raw: bytes) -> None:
                line = raw.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8", "replace")
                try:
                    await logs.add_line(
                        line,
                        severity=severity,
                        resource=resource,
                        customer_organization_id=customer_organization_id,
                        revision=revision,
                    )
                except RecordTooLargeError:
                    summary.refused += 1

            partial = b""
            oversized = False  # inside a line already refused: skip to its end
            while True:
                try:
                    chunk = await asyncio.wait_for(queue.get(), idle_flush)
                except TimeoutError:
                    await logs.flush()
                    continue
                if not chunk:
                    break
                lines = (partial + chunk).split(b"\n")
                partial = lines.pop()
                for raw in lines:
                    if oversized:
                        oversized = False
                        continue
                    await emit(raw)
                if len(partial) > BATCH_MAX_BYTES:
                    if not oversized:
                        summary.refused += 1
                    partial, oversized = b"", True
            if partial and not oversized:
                await emit(partial)
        summary.published = logs.published
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await nc.close()
    return summary
