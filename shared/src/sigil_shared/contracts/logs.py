"""Deployment log records (raw in, redacted out) and paged reads of redacted logs."""

import json

from pydantic import AwareDatetime, Field

from sigil_shared.contracts.base import Contract
from sigil_shared.contracts.identity import Actor
from sigil_shared.ids import EntityId

#: A raw message (one record or a JSON array of records) is at most this many bytes.
RAW_MESSAGE_MAX = 1024 * 1024
LOG_BODY_MAX = 1024 * 1024
RESOURCE_MAX = 256
SEVERITY_MAX = 32
ATTRIBUTES_MAX = 64
ATTRIBUTE_KEY_MAX = 256
ATTRIBUTE_VALUE_MAX = 4096
#: Stream sequences are unsigned 64-bit; cursors beyond int64 are refused up front.
MAX_SEQUENCE = 2**63 - 1
#: A record's sequence is ``stream sequence << SEQUENCE_SHIFT | index`` within its stored
#: batch message, so paging and cursors work record by record over batched storage.
SEQUENCE_SHIFT = 20


class LogRecord(Contract):
    """One log record of a deployment, as published on ``sigil.logs.raw.<org>.<deployment>``.

    A raw message carries one record or a JSON array of records (at most 1 MiB). Every
    text (body, resource, severity, attribute keys and values) is redacted; a redacted
    text longer than its limit is cut after redaction and the record marked ``truncated``.
    """

    deployment_id: EntityId
    revision: int | None = Field(default=None, ge=1)
    resource: str | None = Field(default=None, max_length=RESOURCE_MAX)
    timestamp: AwareDatetime
    severity: str | None = Field(default=None, max_length=SEVERITY_MAX)
    body: str = Field(max_length=LOG_BODY_MAX)
    #: Accepted from publishers but never stored nor shown (always None in redacted records):
    #: who may read a deployment's logs comes from its render receipts, never from a record.
    customer_organization_id: EntityId | None = None
    attributes: dict[str, str] | None = Field(default=None, max_length=ATTRIBUTES_MAX)
    truncated: bool = False


def stored_records(data: bytes) -> list[LogRecord]:
    """The records of one message of the redacted stream (an object or an array)."""
    doc = json.loads(data)
    items = doc if isinstance(doc, list) else [doc]
    return [LogRecord.model_validate(item) for item in items]


def entry_sequence(stream_sequence: int, index: int) -> int:
    """The record sequence of the ``index``-th record of a stored message."""
    return (stream_sequence << SEQUENCE_SHIFT) | index


class LogEntry(Contract):
    """A stored redacted record and its sequence (see ``SEQUENCE_SHIFT``)."""

    sequence: int
    record: LogRecord


class LogPageRequest(Contract):
    """A page of one deployment's redacted logs: newest first before ``before``, or after."""

    actor: Actor
    request_id: str = Field(min_length=1, max_length=128)
    deployment_id: EntityId
    before: int | None = Field(default=None, ge=1, le=MAX_SEQUENCE)
    after: int | None = Field(default=None, ge=0, le=MAX_SEQUENCE)
    limit: int = Field(default=100, ge=1, le=1000)


class LogPageReply(Contract):
    """Entries in ascending sequence order, masked again with the current values.

    A page holds at most ``limit`` entries and stays under the bus's message size, so it
    can hold fewer: ``more`` says whether entries remain in the direction read; continue
    with ``before=next_before`` (older) or ``after=next_after`` (newer).
    """

    items: list[LogEntry]
    next_before: int | None = None
    next_after: int | None = None
    more: bool = False
