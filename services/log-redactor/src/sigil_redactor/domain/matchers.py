"""Matchers keyed by (organization, deployment scope), built off the event loop, cached.

A deployment's scope comes from its render receipts only: the customer of its newest
receipt and every (key, scope, version) its receipts pin; a deployment without receipts
gets the whole organization (every customer's values too). Deployments of the same scope
share one matcher. Builds run on a daemon thread (ahocorasick-rs releases the GIL while it
compiles), so other organizations, health answers and shutdown proceed during a long build,
and a build still running at exit does not hold the process.
"""

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sigil_redactor.domain.kernel import Redactor

Pin = tuple[str, str | None, int]


@dataclass(frozen=True)
class Scope:
    """What a deployment could have seen: one customer's scope or the whole organization."""

    customer: str | None
    all_customers: bool
    pinned: frozenset[Pin]
    #: Whether the deployment has a receipt (its scope is then known, not the whole org).
    receipted: bool


ScopeReader = Callable[[str, str], Awaitable[Scope]]
ValuesReader = Callable[[str, Scope], Awaitable[list[str]]]


async def build_off_loop(values: Sequence[str], *, min_length: int) -> Redactor:
    """Compile a matcher on a daemon thread; the caller's loop keeps running meanwhile."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Redactor] = loop.create_future()

    def deliver(result: Redactor | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = Redactor(values, min_length=min_length)
        except Exception as err:  # noqa: BLE001 - handed to the awaiting coroutine
            outcome: tuple[Redactor | None, BaseException | None] = (None, err)
        else:
            outcome = (result, None)
        try:
            loop.call_soon_threadsafe(deliver, *outcome)
        except RuntimeError:  # the loop closed (shutdown) while this build ran
            return

    threading.Thread(target=work, name="matcher-build", daemon=True).start()
    return await done


class MatcherCache:
    """(org, deployment) -> scope and (org, scope) -> matcher, each a bounded LRU."""

    def __init__(
        self,
        *,
        scope: ScopeReader,
        values: ValuesReader,
        min_length: int,
        size: int,
    ) -> None:
        self._scope = scope
        self._values = values
        self._min_length = min_length
        self._size = size
        self._scopes: OrderedDict[tuple[str, str], Scope] = OrderedDict()
        self._matchers: OrderedDict[tuple[str, Scope], Redactor] = OrderedDict()
        self._building: dict[tuple[str, Scope], asyncio.Future[Redactor]] = {}
        self._generation: dict[str, int] = {}

    async def scope(self, org: str, deployment: str) -> Scope:
        """The deployment's scope from its receipts (cached until a receipt event)."""
        key = (org, deployment)
        cached = self._scopes.get(key)
        if cached is not None:
            self._scopes.move_to_end(key)
            return cached
        generation = self._generation.get(org, 0)
        found = await self._scope(org, deployment)
        if generation == self._generation.get(org, 0):
            self._scopes[key] = found
            while len(self._scopes) > self._size:
                self._scopes.popitem(last=False)
        return found

    async def get(self, org: str, deployment: str) -> Redactor:
        """The matcher of the deployment's scope, built once (concurrent callers share it)."""
        scope = await self.scope(org, deployment)
        key = (org, scope)
        cached = self._matchers.get(key)
        if cached is not None:
            self._matchers.move_to_end(key)
            return cached
        pending = self._building.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(self._build(key))
        self._building[key] = task

        def forget(_: object) -> None:
            if self._building.get(key) is task:
                del self._building[key]

        task.add_done_callback(forget)
        return await asyncio.shield(task)

    async def _build(self, key: tuple[str, Scope]) -> Redactor:
        org, scope = key
        generation = self._generation.get(org, 0)
        values = await self._values(org, scope)
        redactor = await build_off_loop(values, min_length=self._min_length)
        if generation == self._generation.get(org, 0):  # no change raced the build
            self._matchers[key] = redactor
            while len(self._matchers) > self._size:
                self._matchers.popitem(last=False)
        return redactor

    def invalidate_organization(self, org: str) -> None:
        """A secret of ``org`` changed (or was deleted): its matchers rebuild on next use."""
        self._generation[org] = self._generation.get(org, 0) + 1
        for key in [k for k in self._matchers if k[0] == org]:
            del self._matchers[key]
        for key in [k for k in self._building if k[0] == org]:
            del self._building[key]

    def invalidate(self, org: str, deployment: str) -> None:
        """A new receipt for one deployment: its scope is read again."""
        self._generation[org] = self._generation.get(org, 0) + 1
        self._scopes.pop((org, deployment), None)

    def __len__(self) -> int:
        return len(self._matchers)
