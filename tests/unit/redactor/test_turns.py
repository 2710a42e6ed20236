"""Turn-taking of overlapping fetches: per key, in the order taken, never blocked forever."""

import asyncio
from datetime import UTC, datetime

from sigil_redactor.service import RawMessage, RedactorService, StoredPage
from sigil_shared import subjects
from sigil_shared.contracts import LogRecord, PinnedVersion, RenderReceipt
from sigil_shared.errors import UnavailableError
from sigil_shared.turns import Turns
from tests.unit.redactor.test_service import FakeMessage

NOW = datetime(2026, 12, 2, tzinfo=UTC)


async def _settle() -> None:
    """Let every ready callback and task run (no timer is involved)."""
    for _ in range(20):
        await asyncio.sleep(0)


def _waiting(turn_wait: "asyncio.Task[None]") -> bool:
    return not turn_wait.done()


async def test_a_turn_starts_when_the_earlier_turn_of_its_key_ends() -> None:
    turns = Turns()
    first, second = turns.take(["a"]), turns.take(["a"])
    await first.wait()  # nothing before it
    waiting = asyncio.ensure_future(second.wait())
    await _settle()
    assert _waiting(waiting)
    first.end()
    await _settle()
    assert waiting.done()


async def test_turns_of_other_keys_do_not_wait_for_each_other() -> None:
    turns = Turns()
    turns.take(["a"])  # never ended here
    other = asyncio.ensure_future(turns.take(["b"]).wait())
    await _settle()
    assert other.done()


async def test_a_turn_sharing_any_key_waits_for_every_earlier_one() -> None:
    turns = Turns()
    a, b = turns.take(["a"]), turns.take(["b"])
    both = turns.take(["a", "b"])
    waiting = asyncio.ensure_future(both.wait())
    a.end()
    await _settle()
    assert _waiting(waiting)
    b.end()
    await _settle()
    assert waiting.done()


async def test_a_turn_ended_early_does_not_let_a_later_one_overtake_an_earlier_one() -> None:
    # The second fetch failed before its turn; the third must still wait for the first.
    turns = Turns()
    first, second, third = (turns.take(["a"]) for _ in range(3))
    second.end()
    waiting = asyncio.ensure_future(third.wait())
    await _settle()
    assert _waiting(waiting)
    first.end()
    await _settle()
    assert waiting.done()


async def test_a_holder_cancelled_while_it_waits_leaves_the_earlier_turn_intact() -> None:
    turns = Turns()
    first, second, third = (turns.take(["a"]) for _ in range(3))
    cancelled = asyncio.ensure_future(second.wait())
    later = asyncio.ensure_future(third.wait())
    await _settle()
    cancelled.cancel()
    await _settle()
    assert cancelled.cancelled()
    second.end()  # what the consumer's done callback does
    await _settle()
    assert _waiting(later)
    first.end()
    await _settle()
    assert later.done()
    third.end()
    await _settle()
    assert len(turns) == 0  # every key is forgotten once its last turn ended


async def test_end_is_idempotent_and_ended_keys_are_forgotten() -> None:
    turns = Turns()
    turn = turns.take(["a", "b"])
    assert len(turns) == 2
    turn.end()
    turn.end()
    await _settle()
    assert len(turns) == 0
    await turns.take(["a"]).wait()  # a fresh turn of a forgotten key starts at once


def _message(org: str, deployment: str, body: str, sequence: int) -> FakeMessage:
    """A raw message of one record (the service tests' fake message)."""
    record = LogRecord(deployment_id=deployment, timestamp=NOW, body=body)
    return FakeMessage(
        subjects.logs_raw(org, deployment), record.model_dump_json().encode(), sequence
    )


class _NoReceipts:
    async def receipts(self, org: str, deployment: str) -> list[RenderReceipt]:
        return []


class _GatedValues:
    """Values of an organization, answered for ``slow`` only once ``release`` is set;
    ``down`` has none to give (its records are held)."""

    def __init__(self, slow: str, down: str = "down") -> None:
        self.slow = slow
        self.down = down
        self.release = asyncio.Event()

    async def values(
        self,
        org: str,
        customer: str | None,
        pinned: list[PinnedVersion],
        *,
        all_customers: bool,
    ) -> list[str]:
        if org == self.slow:
            await self.release.wait()
        if org == self.down:
            raise UnavailableError("no values")
        return [f"secret-of-{org}"]


class _OrderedLogs:
    def __init__(self) -> None:
        self.stored: list[str] = []

    @property
    def max_payload(self) -> int:
        return 1024 * 1024

    async def store(
        self, org: str, deployment: str, data: bytes, *, msg_id: str, records: int
    ) -> None:
        self.stored.append(f"{org}/{deployment}/{msg_id}")

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
        return StoredPage(entries=[], more=False)


async def test_a_later_fetch_stores_after_an_earlier_fetch_of_the_same_deployment() -> None:
    values, logs = _GatedValues(slow="slow"), _OrderedLogs()
    service = RedactorService(
        receipts=_NoReceipts(), values=values, logs=logs, min_length=4, cache_size=8
    )
    warm = _message("fast", "app", "line 0", 1)
    await service.process([warm])  # the fast organization's matcher is built
    turns = Turns()
    earlier: list[RawMessage] = [
        _message("slow", "job", "slow line", 2),
        _message("fast", "app", "line 1", 3),
    ]
    later: list[RawMessage] = [_message("fast", "app", "line 2", 4)]
    other: list[RawMessage] = [_message("other", "api", "line", 5)]
    first = asyncio.ensure_future(
        service.process(earlier, turn=turns.take(m.subject for m in earlier))
    )
    second = asyncio.ensure_future(
        service.process(later, turn=turns.take(m.subject for m in later))
    )
    third = asyncio.ensure_future(service.process(other, turn=turns.take(m.subject for m in other)))
    await third  # another deployment does not wait for the slow build
    await _settle()
    assert not second.done()
    assert logs.stored == ["fast/app/raw-1", "other/api/raw-5"]
    values.release.set()
    await asyncio.gather(first, second)
    assert logs.stored[2:] == ["slow/job/raw-2", "fast/app/raw-3", "fast/app/raw-4"]
    assert all(isinstance(m, FakeMessage) and m.acked for m in [warm, *earlier, *later, *other])


async def test_a_fetch_with_nothing_to_store_is_settled_without_waiting_for_its_turn() -> None:
    values, logs = _GatedValues(slow="slow"), _OrderedLogs()
    service = RedactorService(
        receipts=_NoReceipts(), values=values, logs=logs, min_length=4, cache_size=8
    )
    turns = Turns()
    earlier: list[RawMessage] = [
        _message("slow", "job", "slow line", 1),
        _message("down", "app", "line 1", 2),
    ]
    held = _message("down", "app", "line 2", 3)
    first = asyncio.ensure_future(
        service.process(earlier, turn=turns.take(m.subject for m in earlier))
    )
    holding = asyncio.ensure_future(service.process([held], turn=turns.take([held.subject])))
    await _settle()  # no build thread: the values read fails at once
    assert holding.done()
    assert held.naked is not None
    assert not first.done()
    values.release.set()
    await asyncio.gather(first, holding)
    await _settle()
    assert logs.stored == ["slow/job/raw-1"]
    assert len(turns) == 0
