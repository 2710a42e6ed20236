"""Tamper evidence: each organization's audit events form an HMAC-SHA-256 chain.

Every event carries its position in the chain (``chain_seq``), the link of its
predecessor (``prev_hash``), the id of the audit key that sealed it (``key_id``) and its
own link (``hash``): HMAC-SHA-256 under that key over the canonical JSON of everything
else. Someone without the audit key can neither forge an event nor edit one, even if
they recompute plain SHA-256 hashes; removing events shows as a gap or a missing head.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from sigil_secrets.domain.crypto import Keyring
from sigil_shared.contracts import AuditEvent

GENESIS = "0" * 64

ProblemKind = Literal["forged", "unknown_key", "gap", "missing_head", "broken_link", "misfiled"]


@dataclass(frozen=True)
class ChainHead:
    """The last link of a chain: what the next event links to."""

    link: str = GENESIS
    chain_seq: int = 0


def _canonical(event: AuditEvent) -> bytes:
    body = event.model_dump(mode="json", exclude={"hash"})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_link(event: AuditEvent, key: bytes) -> str:
    """HMAC-SHA-256 under ``key`` over the canonical JSON of the event without its link."""
    return hmac.new(key, _canonical(event), hashlib.sha256).hexdigest()


def seal_events(
    events: Sequence[AuditEvent], *, head: ChainHead, keyring: Keyring
) -> list[AuditEvent]:
    """The events chained after ``head`` in order, sealed with the keyring's current key."""
    key_id = keyring.current
    key = keyring.key(key_id)
    sealed: list[AuditEvent] = []
    link, position = head.link, head.chain_seq
    for event in events:
        position += 1
        linked = event.model_copy(
            update={"chain_seq": position, "prev_hash": link, "key_id": key_id, "hash": ""}
        )
        link = event_link(linked, key)
        sealed.append(linked.model_copy(update={"hash": link}))
    return sealed


def head_of(event: AuditEvent) -> ChainHead:
    """The chain head after ``event``."""
    return ChainHead(link=event.hash, chain_seq=event.chain_seq)


@dataclass(frozen=True)
class ChainProblem:
    """One reason a chain does not verify, with where it is."""

    kind: ProblemKind
    stream_seq: int | None
    message: str


@dataclass
class ChainReport:
    """One organization's chain: first and last stream sequence, count, and any problems."""

    organization_id: str
    first_seq: int | None = None
    last_seq: int | None = None
    count: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """True when every event verifies and links to the one before it."""
        return not self.problems


@dataclass(frozen=True)
class StoredEvent:
    """An audit message as stored: stream sequence, subject and raw bytes."""

    stream_seq: int
    subject: str
    data: bytes


def _parse(item: StoredEvent) -> AuditEvent | None:
    try:
        return AuditEvent.model_validate_json(item.data)
    except ValidationError:
        return None


def verify_chain(
    organization_id: str,
    items: Iterable[StoredEvent],
    *,
    keyring: Keyring,
    subject_prefix: str,
    max_problems: int = 20,
) -> ChainReport:
    """Check one organization's stored events, in stream order, against the keyring.

    Names a forged or edited event (its link does not verify), an event sealed by a key
    that is not in the keyring, a gap (chain positions skip), a missing head (the chain
    does not start at position 1) and a broken link (the predecessor's link differs).
    """
    report = ChainReport(organization_id)
    head = ChainHead()

    def problem(kind: ProblemKind, seq: int, message: str) -> None:
        if len(report.problems) < max_problems:
            report.problems.append(ChainProblem(kind, seq, message))

    for item in items:
        seq = item.stream_seq
        if report.first_seq is None:
            report.first_seq = seq
        report.last_seq = seq
        report.count += 1
        event = _parse(item)
        if event is None:
            problem("forged", seq, f"stream sequence {seq}: not a readable audit event")
            continue
        if event.organization_id != organization_id or not item.subject.startswith(subject_prefix):
            problem("misfiled", seq, f"stream sequence {seq}: event of another organization")
            continue
        key = keyring.keys.get(event.key_id)
        if key is None:
            problem(
                "unknown_key",
                seq,
                f"stream sequence {seq} (event {event.id}): sealed with audit key "
                f"{event.key_id!r}, which is not in the audit keyring",
            )
        elif not hmac.compare_digest(event.hash, event_link(event, key)):
            problem(
                "forged",
                seq,
                f"stream sequence {seq} (event {event.id}): forged or edited "
                "(its HMAC link does not verify)",
            )
            # A forged event's own fields cannot be trusted to continue the chain.
            head = ChainHead(link="", chain_seq=head.chain_seq + 1)
            continue
        expected = head.chain_seq + 1
        if report.count == 1 and event.chain_seq != 1:
            problem(
                "missing_head",
                seq,
                f"missing head: the chain starts at position {event.chain_seq} "
                f"(stream sequence {seq}); positions 1..{event.chain_seq - 1} are gone",
            )
        elif event.chain_seq > expected:
            problem(
                "gap",
                seq,
                f"gap: positions {expected}..{event.chain_seq - 1} missing before "
                f"stream sequence {seq}",
            )
        elif event.chain_seq < expected:
            problem(
                "broken_link",
                seq,
                f"stream sequence {seq} (event {event.id}): position {event.chain_seq} "
                f"repeated or out of order (expected {expected})",
            )
        elif event.prev_hash != head.link and head.link:
            problem(
                "broken_link",
                seq,
                f"stream sequence {seq} (event {event.id}): does not link to its predecessor",
            )
        head = head_of(event)
    return report
