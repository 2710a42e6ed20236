"""Tamper evidence: each organization's audit events form an HMAC-SHA-256 chain.

Every event carries its position in the chain (``chain_seq``), the link of its
predecessor (``prev_hash``), the id of the audit key that sealed it (``key_id``) and its
own link (``hash``): HMAC-SHA-256 under that key over the canonical JSON of everything
else. Someone without the audit key can neither forge an event nor edit one, even if
they recompute plain SHA-256 hashes; removing events shows as a gap or a missing head.

After each append the writer also stores a keyed *head anchor* (last position and link)
outside the stream, so events cut from the end of a chain show as a missing head too.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Literal, NamedTuple

import pydantic_core
from pydantic import BaseModel, ValidationError

from sigil_secrets.domain.crypto import Keyring
from sigil_shared.contracts import AuditEvent

GENESIS = "0" * 64
#: Action of the event an operator appends to acknowledge events cut from the end of a
#: chain (its details: the anchored position and the position the stream still held).
#: Writers refuse a chain that ends before its head anchor until it is there; verify
#: keeps reporting the loss it records.
LOST_HEAD_ACTION = "audit.head_lost"

ProblemKind = Literal[
    "forged",
    "unknown_key",
    "gap",
    "missing_head",
    "broken_link",
    "misfiled",
    "anchor",
    "duplicate",
]


@dataclass(frozen=True)
class ChainHead:
    """The last link of a chain: what the next event links to."""

    link: str = GENESIS
    chain_seq: int = 0


def _wire_names(model: type[BaseModel]) -> dict[str, str]:
    """A model's field names and their wire names (aliases), in the order of the wire names."""
    return dict(
        sorted(
            ((name, info.alias or name) for name, info in model.model_fields.items()),
            key=lambda pair: pair[1],
        )
    )


#: AuditEvent's fields but its link, and their wire names, in canonical (sorted) order.
_EVENT_WIRE = {name: wire for name, wire in _wire_names(AuditEvent).items() if name != "hash"}
_EVENT_WIRE_NAMES = tuple(_EVENT_WIRE.values())
_event_values = attrgetter(*_EVENT_WIRE)
_KEYS, _DETAILS = _EVENT_WIRE["keys"], _EVENT_WIRE["details"]
#: ValueUseKey's wire names in sorted order, as ``_canonical_fast`` writes them out (a
#: unit test fails when ValueUseKey's fields change).
_KEY_WIRE_NAMES = ("customerOrganizationId", "key", "version")


def _canonical_slow(event: AuditEvent) -> bytes:
    """The definition of the canonical JSON that links cover (chains stored so far too)."""
    body = event.model_dump(mode="json", exclude={"hash"})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _canonical_fast(event: AuditEvent, update: Mapping[str, object]) -> bytes | None:
    """``_canonical_slow`` of ``event`` with its chain fields set from ``update``, byte for
    byte, without its two passes (a dump, then ``json.dumps`` sorting every dict): the
    wire names are put in sorted order here and pydantic-core writes the same datetime,
    enum, integer and string text. Its output equals ``ensure_ascii`` escaping only when it
    is ASCII without DEL (``json.dumps`` escapes DEL and every non-ASCII character; pydantic
    refuses lone surrogates): None otherwise, and the caller takes the slow path."""
    body = dict(zip(_EVENT_WIRE_NAMES, _event_values(event), strict=True))
    for name, value in update.items():
        body[_EVENT_WIRE[name]] = value
    if event.keys is not None:
        body[_KEYS] = [
            {
                "customerOrganizationId": k.customer_organization_id,
                "key": k.key,
                "version": k.version,
            }
            for k in event.keys
        ]
    if event.details is not None:
        body[_DETAILS] = dict(sorted(event.details.items()))
    try:
        text = pydantic_core.to_json(body)
    except pydantic_core.PydanticSerializationError:
        return None
    return text if text.isascii() and b"\x7f" not in text else None


def _canonical(event: AuditEvent, update: Mapping[str, object] | None = None) -> bytes:
    """The canonical JSON of ``event`` without its link (sorted keys, no spaces, ASCII
    only), its chain fields (``chain_seq``, ``prev_hash``, ``key_id``) set from ``update``."""
    text = _canonical_fast(event, update or {})
    if text is None:
        text = _canonical_slow(event.model_copy(update=update) if update else event)
    return text


def event_link(event: AuditEvent, key: bytes) -> str:
    """HMAC-SHA-256 under ``key`` over the canonical JSON of the event without its link."""
    return hmac.new(key, _canonical(event), hashlib.sha256).hexdigest()


class SealedEvent(NamedTuple):
    """An event sealed onto a chain, and the JSON it is stored as (parses back to ``event``):
    for plain ASCII text the canonical JSON its link covers with the link added, so it is
    not written twice."""

    event: AuditEvent
    body: bytes


def _sealing(
    events: Sequence[AuditEvent], head: ChainHead, keyring: Keyring
) -> Iterator[tuple[AuditEvent, bytes | None]]:
    """Each event chained after ``head`` in order, sealed with the keyring's current key,
    with its canonical JSON when the fast path wrote it (plain ASCII)."""
    key_id = keyring.current
    key = keyring.key(key_id)
    link, position = head.link, head.chain_seq
    for event in events:
        position += 1
        update: dict[str, object] = {"chain_seq": position, "prev_hash": link, "key_id": key_id}
        fast = _canonical_fast(event, update)
        canonical = fast or _canonical_slow(event.model_copy(update=update))
        link = hmac.new(key, canonical, hashlib.sha256).hexdigest()
        update["hash"] = link
        yield event.model_copy(update=update), fast


def seal(events: Sequence[AuditEvent], *, head: ChainHead, keyring: Keyring) -> list[SealedEvent]:
    """The events sealed onto the chain after ``head``, with the JSON each is stored as."""
    sealed: list[SealedEvent] = []
    for event, canonical in _sealing(events, head, keyring):
        if canonical is None:  # text beyond plain ASCII: pydantic writes it (and refuses
            body = event.model_dump_json().encode()  # what could not be read back)
        else:
            body = b"".join((canonical[:-1], b',"hash":"', event.hash.encode(), b'"}'))
        sealed.append(SealedEvent(event, body))
    return sealed


def seal_events(
    events: Sequence[AuditEvent], *, head: ChainHead, keyring: Keyring
) -> list[AuditEvent]:
    """The events sealed onto the chain after ``head`` (``seal`` without the JSON)."""
    return [event for event, _ in _sealing(events, head, keyring)]


def link_verifies(event: AuditEvent, keyring: Keyring) -> bool:
    """True when ``event`` was sealed by a key of ``keyring`` and is unchanged since."""
    key = keyring.keys.get(event.key_id)
    return key is not None and hmac.compare_digest(event.hash, event_link(event, key))


def continues_chain(event: AuditEvent, organization_id: str, keyring: Keyring) -> bool:
    """True when ``event`` is a sealed event of ``organization_id``'s chain: the only kind a
    writer may link to (a forged, edited or misfiled message is skipped, never linked)."""
    return event.organization_id == organization_id and link_verifies(event, keyring)


def head_of(event: AuditEvent) -> ChainHead:
    """The chain head after ``event``."""
    return ChainHead(link=event.hash, chain_seq=event.chain_seq)


def _anchor_mac(key: bytes, org: str, head: ChainHead) -> str:
    message = "\x1f".join(("sigil-audit-anchor/v1", org, str(head.chain_seq), head.link))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def seal_anchor(org: str, head: ChainHead, *, keyring: Keyring) -> bytes:
    """The keyed head anchor of ``org``'s chain, as stored next to the stream."""
    key_id = keyring.current
    body = {
        "organizationId": org,
        "chainSeq": head.chain_seq,
        "link": head.link,
        "keyId": key_id,
        "mac": _anchor_mac(keyring.key(key_id), org, head),
    }
    return json.dumps(body, sort_keys=True).encode()


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
    #: The last verified head and every position's link, for ``check_anchor``.
    head: ChainHead = field(default_factory=ChainHead)
    links: dict[int, str] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        """True when every event verifies and links to the one before it."""
        return not self.problems


def trusted_anchor(org: str, data: bytes, keyring: Keyring) -> ChainHead | str:
    """The head a stored anchor of ``org``'s chain vouches for, or why it cannot be trusted."""
    try:
        body = json.loads(data)
        head = ChainHead(link=str(body["link"]), chain_seq=int(body["chainSeq"]))
        key = keyring.keys.get(str(body["keyId"]))
        mac = str(body["mac"])
    except (ValueError, KeyError, TypeError):
        return "head anchor is unreadable"
    if key is None:
        return f"head anchor is sealed with audit key {body['keyId']!r}, not in the keyring"
    if body.get("organizationId") != org or not hmac.compare_digest(
        mac, _anchor_mac(key, org, head)
    ):
        return "head anchor is forged or edited (its HMAC does not verify)"
    return head


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
    """Check one organization's stored events, in stream order, against the keyring
    (``ChainVerifier`` fed every item; the report keeps every position's link)."""
    verifier = ChainVerifier(
        organization_id, keyring=keyring, subject_prefix=subject_prefix, max_problems=max_problems
    )
    for item in items:
        verifier.add(item)
    return verifier.report


class ChainVerifier:
    """One organization's chain checked event by event, so a chain of any length is
    verified while it streams past, holding only each event's id (duplicates) and the
    links ``check_anchor`` will look at.

    Names a forged or edited event (its link does not verify), an event sealed by a key
    that is not in the keyring, a gap (chain positions skip), a missing head (the chain
    does not start at position 1), a broken link (the predecessor's link differs) and an
    event id stored twice. ``check_anchor`` then compares the end of the chain with its
    stored head anchor: ``keep_link`` is the one position whose link it needs (from
    ``anchored_position``), None to keep every position's.
    """

    def __init__(
        self,
        organization_id: str,
        *,
        keyring: Keyring,
        subject_prefix: str,
        max_problems: int = 20,
        keep_link: int | None = None,
    ) -> None:
        self.report = ChainReport(organization_id)
        self._keyring = keyring
        self._prefix = subject_prefix
        self._max_problems = max_problems
        self._keep_link = keep_link
        self._seen: set[str] = set()
        self._skipped = 0  # unverifiable events since the last one that verifies

    def _problem(self, kind: ProblemKind, seq: int, message: str) -> None:
        if len(self.report.problems) < self._max_problems:
            self.report.problems.append(ChainProblem(kind, seq, message))

    def _sealed(self, event: AuditEvent, seq: int) -> None:
        """Problems a sealed event names by itself: stored twice, or acknowledging a cut."""
        if event.id in self._seen:
            # Sealed and linked in its place, but the same event recorded twice (a replay, or
            # a redelivery after the stream's de-duplication window).
            self._problem(
                "duplicate",
                seq,
                f"stream sequence {seq} (event {event.id}): the same event stored again",
            )
        self._seen.add(event.id)
        if event.action == LOST_HEAD_ACTION:
            # An operator let the chain go on past events cut from its end: the loss stays.
            lost = (event.details or {}).get("lostPositions", "?")
            self._problem(
                "missing_head",
                seq,
                f"stream sequence {seq} (event {event.id}): positions {lost} were cut from "
                f"the end of the chain; {event.actor_id} acknowledged the loss",
            )

    def add(self, item: StoredEvent) -> None:
        """Check the next stored event of the chain (stream order)."""
        report, problem = self.report, self._problem
        seq = item.stream_seq
        if report.first_seq is None:
            report.first_seq = seq
        report.last_seq = seq
        report.count += 1
        event = _parse(item)
        if event is None:
            problem("forged", seq, f"stream sequence {seq}: not a readable audit event")
            self._skipped += 1
            return
        if event.organization_id != report.organization_id or not item.subject.startswith(
            self._prefix
        ):
            problem("misfiled", seq, f"stream sequence {seq}: event of another organization")
            return
        key = self._keyring.keys.get(event.key_id)
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
            # A forged event's own fields cannot be trusted: the chain goes on from the last
            # event that verifies (writers skip it), or one position per edited event later.
            self._skipped += 1
            return
        if self._keep_link is None or event.chain_seq == self._keep_link:
            report.links[event.chain_seq] = event.hash
        self._sealed(event, seq)
        head = report.head
        expected = head.chain_seq + 1
        skipped, self._skipped = self._skipped, 0
        if skipped > 0 and expected < event.chain_seq <= expected + skipped:
            pass  # positions taken by the edited events reported above; their links are lost
        elif report.count == 1 and event.chain_seq != 1:
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
        report.head = head_of(event)


def anchored_position(org: str, anchor: bytes | None, *, keyring: Keyring) -> int | None:
    """The chain position a trustworthy head anchor names (None: no anchor, or one
    ``check_anchor`` will refuse)."""
    if anchor is None:
        return None
    head = trusted_anchor(org, anchor, keyring)
    return None if isinstance(head, str) else head.chain_seq


def check_anchor(report: ChainReport, anchor: bytes | None, *, keyring: Keyring) -> None:
    """Add a problem to ``report`` unless its chain ends where its head anchor says.

    A chain that ends before the anchored position, or whose event there has another
    link, lost its head; a chain with events but no anchor, or a forged one, is reported.
    """
    last = report.last_seq or 0
    if anchor is None:
        if report.count:
            report.problems.append(
                ChainProblem(
                    "anchor",
                    last,
                    "no head anchor for this chain (events cut from its end would go "
                    "unnoticed); the next append writes it",
                )
            )
        return
    anchored = trusted_anchor(report.organization_id, anchor, keyring)
    if isinstance(anchored, str):
        report.problems.append(ChainProblem("anchor", last, anchored))
        return
    head = report.head
    if anchored.chain_seq > head.chain_seq:
        message = (
            f"missing head: the chain ends at position {head.chain_seq} but position "
            f"{anchored.chain_seq} was written; positions {head.chain_seq + 1}.."
            f"{anchored.chain_seq} are gone"
        )
        report.problems.append(ChainProblem("missing_head", last, message))
    elif report.links.get(anchored.chain_seq, anchored.link) != anchored.link:
        message = f"position {anchored.chain_seq} is not the event the head anchor recorded"
        report.problems.append(ChainProblem("broken_link", last, message))
