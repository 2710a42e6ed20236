"""JetStreamAuditLog: audit events in a stream that denies delete and purge.

Each organization's events form an HMAC chain (``domain.audit_chain``). Appends are
group-committed per organization: concurrent callers queue their events, one writer per
organization seals everything queued so far onto the chain and stores it as one atomic
JetStream batch (one round trip, all or nothing). The batch's first message carries the
expected last sequence *of the organization's subjects*, checked by the server when the
batch commits, so replicas appending concurrently can never fork a chain: the loser
re-reads the head and retries. When few events are queued they go out one publish each
(each with the expected sequence of the one before) if that is quicker than a batch,
which the server syncs to disk before acknowledging. A caller returns only once its
event is stored; if it cannot be stored the caller gets AuditUnavailableError and undoes
its change.
"""

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck
from nats.js.errors import BadRequestError, NotFoundError
from nats.js.errors import Error as JsError
from pydantic import ValidationError

from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_secrets.domain.audit_chain import (
    LOST_HEAD_ACTION,
    ChainHead,
    SealedEvent,
    continues_chain,
    head_of,
    seal,
    seal_anchor,
    trusted_anchor,
)
from sigil_secrets.domain.crypto import Keyring
from sigil_shared import subjects
from sigil_shared.audit_stream import dropping_problems
from sigil_shared.contracts import AuditEvent, AuditOutcome, Role
from sigil_shared.contracts.health import DEGRADED
from sigil_shared.errors import AuditUnavailableError, SigilError

log = logging.getLogger("sigil.secrets.audit")

#: "wrong last sequence": with the sequence (10071), or without it (10164, e.g. an atomic
#: batch on a clustered stream).
_WRONG_LAST_SEQUENCE = (10071, 10164)
_BATCH_DUPLICATE_ID = 10201
#: Seconds an append keeps retrying after losing races for the chain head to other
#: replicas (each loss means another replica's events went in, so the chain progresses).
_CONTENTION_BUDGET = 2.0
#: Random pause after losing a race for the chain head: up to this, doubling per attempt.
_BACKOFF, _MAX_BACKOFF = 0.001, 0.05
_READ_TIMEOUT = 5.0
#: Events per atomic batch (the server allows 1,000; a batch also stays far below 1 MiB).
MAX_BATCH = 256
#: Seconds a new head waits before its anchor is written (heads in between coalesce).
ANCHOR_DELAY = 0.05
#: Seconds a commit of background events only (nobody waits on them) waits for more to
#: join it. The server's cost of an atomic batch is mostly per batch (it stages each one
#: in a store of its own), so under load fewer, fuller batches spare it most of that. An
#: event a caller waits on, or a full batch, ends the wait at once.
BACKGROUND_LINGER = 0.05
#: Smoothing of the measured round-trip times that choose between batch and singles:
#: quick to believe the cost that argues against a batch, slow to believe the other, so
#: a noisy machine does not make batches look cheap.
_QUICK, _SLOW = 0.5, 0.05
_FADE = 0.95
#: Bytes kept free in a bus message for an audit publish's headers.
_HEADER_ROOM = 4096

#: The organization's own messages in the first window searched back for its chain's last
#: verifying event (it grows eightfold per round), and the most of them read in all before
#: failing closed. Other organizations' messages are never read.
_TAIL_WINDOW = 64
MAX_TAIL_SCAN = 10_000
#: Seconds the server keeps an idle counting consumer (``_count_from``) before removing it.
_PROBE_IDLE = 2.0
#: Seconds a passed stream check lets changes go ahead without checking again.
PING_TTL = 1.0
#: Organizations whose unverifiable messages health reports (newest findings kept).
_MAX_FINDINGS = 50

_EXPECTED_SEQ = "Nats-Expected-Last-Subject-Sequence"
_EXPECTED_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject"


@dataclass
class _Pending:
    event: AuditEvent
    done: "asyncio.Future[AuditEvent]"
    background: bool = False


@dataclass
class _Chain:
    """One organization's queue of events waiting to be appended, and its writer."""

    queue: list[_Pending] = field(default_factory=list)
    writer: "asyncio.Task[None] | None" = None
    head: tuple[int, ChainHead] | None = None
    #: Set when the queue must be committed without lingering (see ``BACKGROUND_LINGER``).
    urgent: asyncio.Event = field(default_factory=asyncio.Event)


def _smooth(estimate: float, sample: float, *, up: bool) -> float:
    """Move ``estimate`` toward ``sample``: quickly in the direction ``up`` names."""
    rate = _QUICK if (sample > estimate) == up else _SLOW
    return estimate + rate * (sample - estimate)


class _ContendedError(Exception):
    """Another writer appended first; the head must be re-read."""


class JetStreamAuditLog:
    """The AuditLog port on a JetStream stream."""

    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        *,
        stream: str,
        keyring: KeyringSource,
        replicas: int = 1,
        timeout: float = 5.0,
        linger: float = BACKGROUND_LINGER,
    ) -> None:
        self._nc = nc
        self._js = js
        self._stream = stream
        self._linger_seconds = linger
        self._keyring = keyring
        self._replicas = replicas
        self._timeout = timeout
        self._chains: dict[str, _Chain] = {}
        self._atomic = False
        #: Acknowledged publishes (round trips) so far: fewer than events when batching.
        self.round_trips = 0
        # Measured seconds per single publish and per atomic batch commit. The server
        # syncs a batch to disk before acknowledging it (~15-20 ms on a plain disk, about
        # the same for 1 or 256 events) while a single publish answers in ~0.3 ms: a batch
        # is sent only when it is quicker than the singles it replaces, i.e. under load,
        # which is also when its far lower CPU per event matters.
        self._single_rtt = 0.0005
        self._batch_rtt = 0.02
        # Head anchors waiting to be written (newest per organization), and their writer.
        self._anchors: dict[str, ChainHead] = {}
        self._anchor_task: asyncio.Task[None] | None = None
        #: Organization -> stream sequence of the last unverifiable message found at the
        #: end of its chain (health reports it; ``sigil audit verify`` names it).
        self._unverifiable: dict[str, int] = {}
        #: Organization -> why its changes are refused: its chain ends before its head
        #: anchor (events cut from the stream's end). Health names it.
        self._lost_heads: dict[str, str] = {}
        #: Organization -> the anchored head an operator acknowledged as lost (appends go
        #: on past it; the acknowledgement is an event of the chain).
        self._acknowledged: dict[str, ChainHead] = {}
        self._pinged_at = -PING_TTL

    async def setup(self) -> None:
        """Learn whether the stream takes atomic batches; it is the setup step's to create."""
        try:
            info = await self._js.stream_info(self._stream)
        except NotFoundError as err:
            raise AuditUnavailableError("audit stream is missing: run the setup step") from err
        except (JsError, TimeoutError) as err:
            raise AuditUnavailableError("audit stream is unavailable") from err
        self._atomic = bool(info.config.allow_atomic)

    async def ping(self) -> None:
        """Raise unless the stream exists, accepts writes and cannot drop events."""
        try:
            info = await self._js.stream_info(self._stream)
        except (JsError, TimeoutError) as err:
            raise AuditUnavailableError("audit stream does not answer") from err
        config = info.config
        if config.sealed or subjects.AUDIT_ALL not in (config.subjects or []):
            raise AuditUnavailableError("audit stream does not accept events")
        problems = dropping_problems(config)
        if problems:
            msg = "audit stream configuration would let events be dropped: " + "; ".join(problems)
            raise AuditUnavailableError(msg)
        self._atomic = bool(config.allow_atomic)

    async def writable(self, organization_id: str) -> None:
        """Raise AuditUnavailableError when ``organization_id``'s next event is known not to
        be storable, so a change is refused before it writes anything (its compensation
        could only leave delete markers). No I/O while the chain's head is known and the
        stream was checked within the last ``PING_TTL`` seconds."""
        now = time.monotonic()
        if now - self._pinged_at >= PING_TTL:
            await self.ping()
            self._pinged_at = now
        chain = self._chains.setdefault(organization_id, _Chain())
        if chain.head is not None or chain.writer is not None:
            return  # a writer is at work: it reads the head itself
        try:
            head = await self._read_head(organization_id)
        except (JsError, NatsError, TimeoutError) as err:
            raise AuditUnavailableError("audit stream does not answer") from err
        if chain.writer is None and chain.head is None:
            chain.head = head

    async def close(self) -> None:
        """Wait for queued appends (their callers are waiting) and head anchors to be written."""
        writers = [c.writer for c in self._chains.values() if c.writer is not None]
        if writers:
            await asyncio.gather(*writers, return_exceptions=True)
        if self._anchor_task is not None:
            await asyncio.gather(self._anchor_task, return_exceptions=True)

    # -- appends ---------------------------------------------------------------

    async def append(self, event: AuditEvent) -> AuditEvent:
        """Chain and store one event; AuditUnavailableError if it cannot be written."""
        return await self._queue(event, background=False)

    async def append_all(
        self, events: list[AuditEvent], *, background: bool = False
    ) -> list[AuditEvent | BaseException]:
        """Chain and store several events at once (a group commit): each one's stored
        event or its AuditUnavailableError, in order; no task per event.

        A commit whose events are all ``background`` (no request waits on them) is one
        atomic batch whenever it holds more than one event: the fewest publishes and acks,
        whatever the batch's latency."""
        waiting = [self._queue(event, background) for event in events]
        return await asyncio.gather(*waiting, return_exceptions=True)

    def _queue(self, event: AuditEvent, background: bool) -> "asyncio.Future[AuditEvent]":
        org = event.organization_id
        chain = self._chains.get(org)
        if chain is None:
            chain = self._chains[org] = _Chain()
        done: asyncio.Future[AuditEvent] = asyncio.get_running_loop().create_future()
        chain.queue.append(_Pending(event, done, background))
        if not background or len(chain.queue) >= MAX_BATCH:
            chain.urgent.set()
        if chain.writer is None:
            chain.writer = asyncio.create_task(self._write(org, chain), name=f"audit-{org}")
        return done

    async def _write(self, org: str, chain: _Chain) -> None:
        """Drain one organization's queue, a batch per round trip, until it is empty."""
        try:
            while chain.queue:
                await self._linger(chain)
                batch = chain.queue[:MAX_BATCH]
                del chain.queue[:MAX_BATCH]
                if len(chain.queue) < MAX_BATCH and all(p.background for p in chain.queue):
                    chain.urgent.clear()
                try:
                    stored = await self._commit(
                        org,
                        chain,
                        [p.event for p in batch],
                        background=all(p.background for p in batch),
                    )
                except Exception as err:  # noqa: BLE001 - every waiting caller must get an answer
                    chain.head = None
                    failure = (
                        err
                        if isinstance(err, AuditUnavailableError)
                        else AuditUnavailableError("audit record could not be written")
                    )
                    if failure is not err:
                        log.error("audit append failed unexpectedly: %s", type(err).__name__)
                    for pending in batch:
                        if not pending.done.done():
                            pending.done.set_exception(failure)
                    continue
                for pending, sealed in zip(batch, stored, strict=True):
                    if not pending.done.done():
                        pending.done.set_result(sealed)
                # The head as the stream holds it: an event the server took as a duplicate
                # of one stored earlier (a repeated event id) was not written again, so its
                # sealed position must not become the anchor (verify would see a lost head).
                if chain.head is not None:
                    self._anchor_later(org, chain.head[1])
        finally:
            chain.writer = None
            if chain.queue:  # appended while the writer was finishing
                chain.writer = asyncio.create_task(self._write(org, chain), name=f"audit-{org}")

    async def _linger(self, chain: _Chain) -> None:
        """Let a queue of background events fill for up to ``BACKGROUND_LINGER`` seconds."""
        if self._linger_seconds <= 0 or chain.urgent.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(chain.urgent.wait(), self._linger_seconds)

    def _anchor_later(self, org: str, head: ChainHead) -> None:
        """Record the new head outside the stream, off the callers' path (newest wins)."""
        self._anchors[org] = head
        if self._anchor_task is None or self._anchor_task.done():
            self._anchor_task = asyncio.create_task(self._write_anchors(), name="audit-anchors")

    async def _write_anchors(self) -> None:
        # An anchor may lag its chain (or be overwritten by another replica's older one):
        # verification only objects to a chain that ends *before* its anchor. Waiting a
        # moment first coalesces a busy organization's heads into one write.
        await asyncio.sleep(ANCHOR_DELAY)
        while self._anchors:
            org, head = self._anchors.popitem()
            try:
                anchor = seal_anchor(org, head, keyring=self._keyring.get())
                await self._js.publish(_anchor_subject(org), anchor, timeout=self._timeout)
            except (JsError, NatsError, TimeoutError, SigilError, OSError) as err:
                log.warning("audit head anchor of %s not written: %s", org, type(err).__name__)

    async def _commit(
        self, org: str, chain: _Chain, events: list[AuditEvent], *, background: bool = False
    ) -> list[AuditEvent]:
        if background and self._atomic and len(events) > 1:
            singly = False
        else:
            singly = not self._atomic or len(events) * self._single_rtt < self._batch_rtt
        if singly and self._atomic and len(events) > 1:
            # Not measured while unused: let the batch estimate fade so that one slow
            # batch (a busy disk) does not rule batches out for good.
            self._batch_rtt *= _FADE
        remaining, stored = list(events), list[AuditEvent]()
        deadline = time.monotonic() + _CONTENTION_BUDGET
        attempt = 0
        while attempt == 0 or time.monotonic() < deadline:
            attempt += 1
            try:
                if chain.head is None:
                    chain.head = await self._read_head(org)
                if singly:
                    await self._publish_singly(org, chain, remaining, stored)
                else:
                    stored = await self._publish_batch(org, chain, remaining)
                return stored
            except _ContendedError:
                # Another replica appended first: re-read the head and go on one event at
                # a time (a single publish lands between another writer's far more easily
                # than a whole batch), after a short random pause so two writers part.
                chain.head = None
                singly = True
                pause = min(_BACKOFF * 2**attempt, _MAX_BACKOFF)
                await asyncio.sleep(random.uniform(0, pause))  # noqa: S311 - jitter, not crypto
            except BadRequestError as err:
                chain.head = None
                if err.err_code == _BATCH_DUPLICATE_ID:
                    # A retried event is already stored: store the rest one by one, where
                    # the server answers a duplicate with the original's acknowledgement.
                    singly = True
                    continue
                raise AuditUnavailableError("audit record could not be written") from err
            except (JsError, NatsError, TimeoutError) as err:
                chain.head = None
                raise AuditUnavailableError("audit record could not be written") from err
        raise AuditUnavailableError("audit chain is contended; try again")

    async def _read_head(self, org: str) -> tuple[int, ChainHead]:
        """The stream sequence the next append must follow, and the head it links to.

        The head is the last event that verifies under the audit keyring. A message that
        does not (junk or forged, published with the service's bus rights) stays where it
        is, reported by ``sigil audit verify`` and by health; it is skipped, not linked to,
        so one such publish cannot stop the organization's changes.

        A chain that ends before its head anchor (events cut from the end of the stream)
        is refused: appending would overwrite the anchor and erase the loss.
        """
        # The anchor first: it is written only once its event is stored, so a head read
        # after it can be behind it only if events were removed.
        anchored = await self._anchored(org)
        last, head = await self._stream_head(org)
        self._check_anchor(org, anchored, head)
        return last, head

    async def _stream_head(self, org: str) -> tuple[int, ChainHead]:
        """The organization's last stream sequence and the last event there that verifies."""
        try:
            msg = await self._js.get_last_msg(self._stream, subjects.audit_org(org))
        except NotFoundError:
            return 0, ChainHead()
        last = msg.seq or 0
        keyring = self._keyring.get()
        event = _readable(msg.data or b"")
        if event is not None and continues_chain(event, org, keyring):
            return last, head_of(event)
        return last, await self._last_verified(org, last, keyring)

    async def _last_verified(self, org: str, last: int, keyring: Keyring) -> ChainHead:
        """Walk back from stream sequence ``last`` to the org's last event that verifies.

        Reads the organization's own messages backward, window by window (each one ends
        where the one before it starts, and holds eight times as many of its messages),
        until an event verifies or its first message is reached; at most ``MAX_TAIL_SCAN``
        of them in all, however many events it or other organizations have, beyond which
        appends fail closed. No verifiable event at all: the chain starts (again) at
        position 1.
        """
        window, scanned, unverified_after = _TAIL_WINDOW, 0, 0
        high = last  # the org's messages after ``high`` are read (and none verified)
        above = await self._count_from(org, last + 1)
        while True:
            budget = MAX_TAIL_SCAN - scanned
            start, counted = await self._window_start(org, high, above, min(window, budget))
            found, unverified, read = await self._scan_tail(org, start, high, keyring, limit=budget)
            scanned += read
            if unverified < 0 or (found is None and start > 1 and scanned >= MAX_TAIL_SCAN):
                # The window was not read to its end within the bound: whatever verified
                # in it may not be the last such event, so linking to it could fork.
                self._note_unverifiable(org, last, scanned)
                log.error("audit chain of %s: no verifiable event among its last messages", org)
                raise AuditUnavailableError("audit chain head does not verify")
            unverified_after += unverified
            if found is not None or start == 1:
                self._note_unverifiable(org, last, unverified_after)
                return found or ChainHead()
            high, above, window = start - 1, counted, window * 8

    async def _window_start(self, org: str, high: int, above: int, size: int) -> tuple[int, int]:
        """The lowest stream sequence from which at most ``size`` of the org's messages lie
        up to ``high`` (``above`` of them lie after it), and how many lie from there on.

        A binary search over stream sequences, each step counting the org's messages from
        one sequence on (no message is read): about log2(``high``) steps.
        """
        counted = await self._count_from(org, 1)
        if counted - above <= size:
            return 1, counted
        low, start, at_start = 1, high, None  # too many from ``low``; few enough from ``start``
        while start - low > 1:
            middle = (low + start) // 2
            count = await self._count_from(org, middle)
            if count - above <= size:
                start, at_start = middle, count
            else:
                low = middle
        if at_start is None:
            at_start = await self._count_from(org, start)
        return start, at_start

    async def _count_from(self, org: str, start: int) -> int:
        """How many of the org's messages the stream holds from sequence ``start`` on."""
        info = await self._js.add_consumer(
            self._stream,
            ConsumerConfig(
                filter_subject=subjects.audit_org(org),
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=start,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=_PROBE_IDLE,
                mem_storage=True,
                num_replicas=1,
            ),
            timeout=self._timeout,
        )
        return info.num_pending or 0

    async def _scan_tail(
        self, org: str, start: int, last: int, keyring: Keyring, *, limit: int
    ) -> tuple[ChainHead | None, int, int]:
        """In stream sequences ``start..last``: the last verifying head, the number of
        unverifiable messages after it (-1: ``limit`` messages read before ``last``), and
        the number of messages read."""
        sub = await self._js.subscribe(
            subjects.audit_org(org),
            stream=self._stream,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
            ),
        )
        found: ChainHead | None = None
        unverified = read = 0
        try:
            while True:
                if read >= limit:
                    return found, -1, read
                try:
                    msg = await sub.next_msg(timeout=_READ_TIMEOUT)
                except TimeoutError as err:
                    raise AuditUnavailableError("audit stream read timed out") from err
                seq = msg.metadata.sequence.stream
                if seq > last:
                    break
                read += 1
                event = _readable(msg.data)
                if event is not None and continues_chain(event, org, keyring):
                    found, unverified = head_of(event), 0
                else:
                    unverified += 1
                if seq >= last or msg.metadata.num_pending == 0:
                    break
        finally:
            with contextlib.suppress(JsError, NatsError):
                await sub.unsubscribe()
        return found, unverified, read

    async def _anchored(self, org: str) -> ChainHead | None:
        """The head the organization's stored anchor vouches for (None: no trustworthy one;
        ``sigil audit verify`` names a forged or unreadable anchor)."""
        stored = await read_anchor(self._js, org)
        if stored is None:
            return None
        anchored = trusted_anchor(org, stored, self._keyring.get())
        if isinstance(anchored, str):
            log.warning("audit chain of %s: %s; run sigil audit verify", org, anchored)
            return None
        return anchored

    @staticmethod
    def _lost_positions(anchored: ChainHead | None, head: ChainHead) -> str | None:
        """The positions cut from the chain's end (``a..b``) when the chain as stored ends
        before its head anchor, or ends at its position with another event; else None."""
        if anchored is None or anchored.chain_seq < head.chain_seq:
            return None  # no anchor yet, or one not yet written for the newest events
        if anchored.chain_seq > head.chain_seq:
            return f"{head.chain_seq + 1}..{anchored.chain_seq}"
        if anchored.link != head.link:
            return f"{anchored.chain_seq}..{anchored.chain_seq}"
        return None

    def _check_anchor(self, org: str, anchored: ChainHead | None, head: ChainHead) -> None:
        """AuditUnavailableError (and a health finding) when events were cut from the end of
        ``org``'s chain and no operator acknowledged it: appending would hide the loss."""
        lost = self._lost_positions(anchored, head)
        if lost is None or self._acknowledged.get(org) == anchored:
            self._lost_heads.pop(org, None)
            return
        assert anchored is not None
        message = (
            f"audit chain of {org} ends at position {head.chain_seq} but its head anchor "
            f"records position {anchored.chain_seq}: positions {lost} were cut from the "
            "audit stream; its changes are refused until an operator acknowledges the loss "
            f"(sigil audit verify; sigil audit acknowledge-lost-head --org {org})"
        )
        log.error("%s", message)
        self._lost_heads.pop(org, None)
        self._lost_heads[org] = message
        while len(self._lost_heads) > _MAX_FINDINGS:
            self._lost_heads.pop(next(iter(self._lost_heads)))
        raise AuditUnavailableError(message)

    async def acknowledge_lost_head(self, org: str, *, actor_id: str) -> AuditEvent | None:
        """Append, as ``actor_id`` (an operator), the event that acknowledges events cut from
        the end of ``org``'s chain, so its changes go on; None when nothing was cut.

        The event (``LOST_HEAD_ACTION``) links to the last event the stream still holds and
        records the anchored and the stored position: the loss stays in the chain, and
        ``sigil audit verify`` keeps naming it; the head anchor then moves to it.
        AuditUnavailableError when it cannot be written.
        """
        try:
            anchored = await self._anchored(org)
            _, head = await self._stream_head(org)
        except (JsError, NatsError, TimeoutError) as err:
            raise AuditUnavailableError("audit stream does not answer") from err
        lost = self._lost_positions(anchored, head)
        if lost is None or anchored is None:
            return None
        self._acknowledged[org] = anchored
        event = AuditEvent(
            id=uuid.uuid4().hex,
            organization_id=org,
            actor_id=actor_id,
            actor_role=Role.ADMIN,
            actor_customer_organization_id=None,
            action=LOST_HEAD_ACTION,
            request_id=uuid.uuid4().hex,
            outcome=AuditOutcome.SUCCESS,
            at=datetime.now(UTC),
            details={
                "anchoredPosition": str(anchored.chain_seq),
                "streamPosition": str(head.chain_seq),
                "lostPositions": lost,
            },
            prev_hash="",
        )
        self._chains.setdefault(org, _Chain()).head = None  # linked to the stream as it is
        return await self.append(event)

    def _note_unverifiable(self, org: str, last: int, count: int) -> None:
        """Remember (for health) that ``org``'s chain ends in unverifiable messages."""
        if count == 0:
            return
        log.error(
            "audit chain of %s: %d message(s) up to stream sequence %d do not verify "
            "(forged or junk); appends link past them; run sigil audit verify",
            org,
            count,
            last,
        )
        self._unverifiable.pop(org, None)
        self._unverifiable[org] = last
        while len(self._unverifiable) > _MAX_FINDINGS:  # bounded: oldest findings go first
            self._unverifiable.pop(next(iter(self._unverifiable)))

    def findings(self) -> dict[str, str]:
        """Health entries, one per organization whose chain this replica found holding a
        message that does not verify: the organization and position, never the content.

        Degraded, not unready: the organization's changes go on (they link past the
        message), and readiness gates the whole API, which one publish must not take down.
        """
        found = {
            f"audit chain {org}": (
                f"{DEGRADED}a message at stream sequence {seq} does not verify "
                "(forged or junk); run sigil audit verify"
            )
            for org, seq in self._unverifiable.items()
        }
        # Events cut from a chain's end: that organization's changes are refused (not the
        # whole API's), so degraded too, naming the organization and positions.
        for org, message in self._lost_heads.items():
            found[f"audit chain {org}"] = f"{DEGRADED}changes refused: {message}"
        return found

    def _fit(self, sealed: list[SealedEvent]) -> None:
        """AuditUnavailableError, before anything is sent, if an event would not fit in a
        bus message (the server would close the connection)."""
        room = self._nc.max_payload - _HEADER_ROOM
        largest = max(len(s.body) for s in sealed)
        if largest > room:
            log.error("audit event of %d bytes is larger than a bus message", largest)
            raise AuditUnavailableError("an audit event is too large to store")

    def _headers(self, event: AuditEvent) -> dict[str, str]:
        return {"Nats-Msg-Id": event.id, "Nats-Expected-Stream": self._stream}

    async def _publish_batch(
        self, org: str, chain: _Chain, events: list[AuditEvent]
    ) -> list[AuditEvent]:
        assert chain.head is not None
        seq, head = chain.head
        sealed = seal(events, head=head, keyring=self._keyring.get())
        self._fit(sealed)
        batch_id = uuid.uuid4().hex
        last = len(sealed)
        for number, (event, data) in enumerate(sealed, start=1):
            headers = self._headers(event)
            headers["Nats-Batch-Id"] = batch_id
            headers["Nats-Batch-Sequence"] = str(number)
            if number == 1:
                # Checked against the stream as it was before the batch, when it commits.
                headers[_EXPECTED_SEQ] = str(seq)
                headers[_EXPECTED_SUBJECT] = subjects.audit_org(org)
            subject = subjects.audit(org, event.action)
            if number < last:
                await self._nc.publish(subject, data, headers=headers)
                continue
            headers["Nats-Batch-Commit"] = "1"
            started = time.perf_counter()
            ack = await self._publish(subject, data, headers)
            self._batch_rtt = _smooth(self._batch_rtt, time.perf_counter() - started, up=True)
            chain.head = (ack.seq, head_of(event))
        return [s.event for s in sealed]

    async def _publish_singly(
        self, org: str, chain: _Chain, remaining: list[AuditEvent], stored: list[AuditEvent]
    ) -> None:
        """Publish ``remaining`` in order, moving each to ``stored`` once acknowledged."""
        while remaining:
            event = remaining[0]
            assert chain.head is not None
            seq, head = chain.head
            sealed = seal([event], head=head, keyring=self._keyring.get())
            self._fit(sealed)
            ((stored_event, data),) = sealed
            headers = self._headers(stored_event)
            headers[_EXPECTED_SEQ] = str(seq)
            headers[_EXPECTED_SUBJECT] = subjects.audit_org(org)
            started = time.perf_counter()
            ack = await self._publish(subjects.audit(org, event.action), data, headers)
            self._single_rtt = _smooth(self._single_rtt, time.perf_counter() - started, up=False)
            if ack.duplicate:
                chain.head = await self._read_head(org)
            else:
                chain.head = (ack.seq, head_of(stored_event))
            stored.append(stored_event)
            remaining.pop(0)

    async def _publish(self, subject: str, data: bytes, headers: dict[str, str]) -> PubAck:
        try:
            ack = await self._js.publish(subject, data, timeout=self._timeout, headers=headers)
            self.round_trips += 1
        except BadRequestError as err:
            if err.err_code in _WRONG_LAST_SEQUENCE:
                raise _ContendedError from err
            raise
        return ack

    # -- reads -----------------------------------------------------------------

    async def events(
        self, organization_id: str, *, after: int
    ) -> AsyncIterator[tuple[int, AuditEvent]]:
        """One organization's events in stream order, starting after sequence ``after``.

        Only events whose keyed link verifies are served: a forged, edited or unreadable
        message is left out (and logged by position); ``sigil audit verify`` names it.
        """
        filter_subject = subjects.audit_org(organization_id)
        try:
            last = await self._js.get_last_msg(self._stream, filter_subject)
        except NotFoundError:
            return
        except (JsError, TimeoutError) as err:
            raise AuditUnavailableError("audit stream does not answer") from err
        if (last.seq or 0) <= after:
            return
        keyring = self._keyring.get()
        sub = await self._js.subscribe(
            filter_subject,
            stream=self._stream,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
            ),
        )
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=_READ_TIMEOUT)
                except TimeoutError as err:  # nats-py's TimeoutError subclasses it
                    raise AuditUnavailableError("audit stream read timed out; retry") from err
                seq = msg.metadata.sequence.stream
                event = _readable(msg.data)
                if event is not None and continues_chain(event, organization_id, keyring):
                    yield seq, event
                else:
                    log.warning("audit event at sequence %s does not verify; not served", seq)
                if seq >= (last.seq or 0) or msg.metadata.num_pending == 0:
                    return
        finally:
            with contextlib.suppress(JsError, NatsError):
                await sub.unsubscribe()


def _anchor_subject(org: str) -> str:
    return f"$KV.{subjects.SECRETS_BUCKET}.{subjects.audit_anchor_key(org)}"


async def read_anchor(js: JetStreamContext, org: str) -> bytes | None:
    """The stored head anchor of one organization's chain (None: never written, or
    deleted or purged); ``trusted_anchor`` says what it vouches for."""
    try:
        msg = await js.get_last_msg(
            subjects.kv_stream(subjects.SECRETS_BUCKET), _anchor_subject(org)
        )
    except NotFoundError:
        return None
    if (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE"):
        return None
    return msg.data


def _readable(data: bytes) -> AuditEvent | None:
    try:
        return AuditEvent.model_validate_json(data)
    except ValidationError:
        return None
