"""Matchers keyed by (organization, deployment scope), built off the event loop, cached.

A deployment's scope comes from its render receipts only: the customer of its newest
receipt and every (key, scope, version) its receipts pin; a deployment without receipts
gets the whole organization (every customer's values too). Deployments of the same scope
share one matcher. Builds run on a daemon thread, so other organizations, health answers and
shutdown proceed during a long build, and a build still running at exit does not hold the
process. ahocorasick-rs (1.0.3) holds the GIL while it compiles an automaton: the kernel keeps
each automaton small (long forms as anchors, at most ``AUTOMATON_MAX_BYTES`` of patterns
each), so the event loop waits at most about a second at a time, never for a whole build.
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
        #: Each matcher with the scope generation its values are at least as new as.
        self._matchers: OrderedDict[tuple[str, Scope], tuple[Redactor, int]] = OrderedDict()
        self._building: dict[tuple[str, Scope], tuple[asyncio.Future[Redactor], int]] = {}
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

    def cached_scope(self, org: str, deployment: str) -> Scope | None:
        """The deployment's cached scope, if any (without reading receipts)."""
        return self._scopes.get((org, deployment))

    async def get(self, org: str, deployment: str, generation: int | None = 0) -> Redactor:
        """The matcher of the deployment's scope, built once (concurrent callers share it).

        ``generation`` is the organization's scope generation read after the caller's data
        arrived: a matcher built from older values is rebuilt first; None (unknown)
        always rebuilds.
        """
        scope = await self.scope(org, deployment)
        key = (org, scope)
        wanted = -1 if generation is None else generation
        cached = self._matchers.get(key)
        if cached is not None and generation is not None and cached[1] >= generation:
            self._matchers.move_to_end(key)
            return cached[0]
        pending = self._building.get(key)
        if pending is not None and generation is not None and pending[1] >= generation:
            return await asyncio.shield(pending[0])
        task = asyncio.ensure_future(self._build(key, max(wanted, 0)))
        self._building[key] = (task, max(wanted, 0) if generation is not None else -1)

        def forget(_: object) -> None:
            entry = self._building.get(key)
            if entry is not None and entry[0] is task:
                del self._building[key]

        task.add_done_callback(forget)
        return await asyncio.shield(task)

    async def _build(self, key: tuple[str, Scope], generation: int) -> Redactor:
        org, scope = key
        events = self._generation.get(org, 0)
        # Values are read after the generation was: they are at least that new.
        values = await self._values(org, scope)
        redactor = await build_off_loop(values, min_length=self._min_length)
        if events == self._generation.get(org, 0):  # no change event raced the build
            current = self._matchers.get(key)
            if current is None or current[1] <= generation:
                self._matchers[key] = (redactor, generation)
                self._matchers.move_to_end(key)
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
