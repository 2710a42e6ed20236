"""Tamper evidence: each organization's audit events form a SHA-256 hash chain."""

import hashlib
import json
from collections.abc import Iterable

from sigil_shared.contracts import AuditEvent

GENESIS = "0" * 64


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the canonical JSON of the event without its own hash."""
    body = event.model_dump(mode="json", exclude={"hash"})
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def seal_event(event: AuditEvent, prev_hash: str) -> AuditEvent:
    """The event linked to its predecessor and carrying its own hash."""
    linked = event.model_copy(update={"prev_hash": prev_hash, "hash": ""})
    return linked.model_copy(update={"hash": event_hash(linked)})


def first_broken_link(events: Iterable[AuditEvent]) -> int | None:
    """Index of the first event whose hash or link is wrong, or None if the chain holds."""
    prev = GENESIS
    for index, event in enumerate(events):
        if event.prev_hash != prev or event.hash != event_hash(event):
            return index
        prev = event.hash
    return None
