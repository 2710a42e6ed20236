"""Turns for overlapping work: a unit of work acts after the earlier ones sharing its keys.

Both bus consumers that keep fetches in flight use them. The redactor redacts two fetches
at once, each awaiting reads and matcher builds before it stores, and takes a turn per
fetch for its raw subjects (one per deployment): each deployment's records are stored in
raw order while fetches of other deployments never wait for each other. The audit intake
takes one turn per message under a single key, so messages queue their events in intake
order even when a large one is decoded in a thread.

The holder of a turn waits for it, does what must keep order, then ends it; ending a turn
early (a failure, a cancellation, nothing to do) still lets no later turn overtake an
earlier one.
"""

import asyncio
from collections.abc import Iterable


class Turn:
    """One fetch's place in line: ``wait`` for it, issue the stores, then ``end`` it."""

    __slots__ = ("_after", "_mine")

    def __init__(self, after: list["asyncio.Future[None]"], mine: "asyncio.Future[None]") -> None:
        self._after = after
        self._mine = mine

    async def wait(self) -> None:
        """Until every earlier turn sharing a key with this one has ended.

        Shielded: a holder cancelled while it waits (stop) leaves the earlier turns alone.
        """
        for earlier in self._after:
            if not earlier.done():
                await asyncio.shield(earlier)

    def end(self) -> None:
        """Let later turns start once the earlier ones have ended (idempotent).

        Safe before ``wait`` (a fetch that failed or was cancelled first): a later turn then
        still waits for every earlier one, so no fetch overtakes one it followed.
        """
        if self._mine.done():
            return
        pending = [earlier for earlier in self._after if not earlier.done()]
        if not pending:
            self._mine.set_result(None)
            return
        for earlier in pending:
            earlier.add_done_callback(self._release)

    def _release(self, _: "asyncio.Future[None]") -> None:
        if not self._mine.done() and all(earlier.done() for earlier in self._after):
            self._mine.set_result(None)


class Turns:
    """Hands out turns per key, in the order they are taken (one per fetch)."""

    def __init__(self) -> None:
        #: Each key's newest turn, until it ends (so the map holds only keys in flight).
        self._last: dict[str, asyncio.Future[None]] = {}

    def take(self, keys: Iterable[str]) -> Turn:
        """The next turn for ``keys``: it starts when the earlier turns of those keys end."""
        held = frozenset(keys)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        after: list[asyncio.Future[None]] = []
        for key in held:
            earlier = self._last.get(key)
            if earlier is not None and earlier not in after:
                after.append(earlier)
            self._last[key] = mine
        mine.add_done_callback(lambda done: self._forget(held, done))
        return Turn(after, mine)

    def _forget(self, keys: frozenset[str], done: "asyncio.Future[None]") -> None:
        for key in keys:
            if self._last.get(key) is done:
                del self._last[key]

    def __len__(self) -> int:
        """Keys with a turn not yet ended."""
        return len(self._last)
