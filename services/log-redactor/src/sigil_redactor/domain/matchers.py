"""Per-deployment matchers, built lazily, cached (bounded LRU), dropped on change events."""

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from sigil_redactor.domain.kernel import Redactor

Builder = Callable[[str, str, str | None], Awaitable[Redactor]]


class MatcherCache:
    """(organization, deployment) -> Redactor; at most ``size`` kept in memory."""

    def __init__(self, build: Builder, *, size: int) -> None:
        self._build = build
        self._size = size
        self._entries: OrderedDict[tuple[str, str], Redactor] = OrderedDict()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._generation = 0

    async def get(self, org: str, deployment: str, customer_hint: str | None) -> Redactor:
        """The deployment's matcher, built once (concurrent callers wait for one build)."""
        key = (org, deployment)
        cached = self._entries.get(key)
        if cached is not None:
            self._entries.move_to_end(key)
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._entries.get(key)
            if cached is not None:
                return cached
            generation = self._generation
            redactor = await self._build(org, deployment, customer_hint)
            if generation == self._generation:  # no invalidation raced the build
                self._entries[key] = redactor
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
            self._locks.pop(key, None)
            return redactor

    def invalidate_organization(self, org: str) -> None:
        """A secret of ``org`` changed: every deployment of it rebuilds on next use."""
        self._generation += 1
        for key in [k for k in self._entries if k[0] == org]:
            del self._entries[key]

    def invalidate(self, org: str, deployment: str) -> None:
        """A new receipt for one deployment."""
        self._generation += 1
        self._entries.pop((org, deployment), None)

    def __len__(self) -> int:
        return len(self._entries)
