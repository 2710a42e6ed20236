"""Deployment log records (raw in, redacted out) and paged reads of redacted logs."""

from pydantic import AwareDatetime, Field

from sigil_shared.contracts.base import Contract
from sigil_shared.contracts.identity import Actor
from sigil_shared.ids import EntityId

LOG_BODY_MAX = 1024 * 1024
#: Stream sequences are unsigned 64-bit; cursors beyond int64 are refused up front.
MAX_SEQUENCE = 2**63 - 1


class LogRecord(Contract):
    """One log line of a deployment, as published on ``sigil.logs.raw.<org>.<deployment>``."""

    deployment_id: EntityId
    revision: int | None = Field(default=None, ge=1)
    resource: str | None = Field(default=None, max_length=256)
    timestamp: AwareDatetime
    severity: str | None = Field(default=None, max_length=32)
    body: str = Field(max_length=LOG_BODY_MAX)
    customer_organization_id: EntityId | None = None


class LogEntry(Contract):
    """A stored redacted record and its position in the redacted stream."""

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
    """Entries in ascending sequence order, masked again with the current values."""

    items: list[LogEntry]
    next_before: int | None = None
    next_after: int | None = None
