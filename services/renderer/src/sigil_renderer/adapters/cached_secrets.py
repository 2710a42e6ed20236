"""CachedSecretsSource: resolved values kept in memory per (org, scope), always fresh.

A render in the common case makes no round trip to the secrets service: the values of
the keys it references come from an LRU cache entry tagged with the organization's scope
generation (contract C2). The generation is read on every render (one KV read, shared
by concurrent renders of an organization) and an entry of another generation is
dropped, so a render published after a change was acknowledged never sees the old
value. Change events drop an organization's entries early (freeing the values); they
are not what freshness relies on. Only referenced keys are fetched and kept.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry import metrics

from sigil_renderer.ports import GenerationSource, SecretsSource
from sigil_shared.contracts import PinnedVersion, ResolvedSecret

Scope = tuple[str, str | None]

#: Renders by how their current values were found; labels carry no key, scope or value.
_LOOKUPS = metrics.get_meter("sigil.renderer").create_counter(
    "sigil.render.value_lookups",
    unit="{render}",
    description="hit: all from the cache; miss: some fetched; uncached: no scope generation",
)


@dataclass
class _Entry:
    generation: int
    used: float
    found: dict[str, ResolvedSecret] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)
    size: int = 0


class ValueCache:
    """LRU of (org, scope) -> values of one generation, bounded by scopes and bytes.

    Values are held only while in use: an entry not used for ``max_idle`` seconds is
    dropped (checked from the least recently used end on every access, so it costs only
    the entries it drops).
    """

    def __init__(
        self,
        *,
        max_scopes: int = 1024,
        max_bytes: int = 64 * 1024 * 1024,
        max_idle: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_scopes = max_scopes
        self._max_bytes = max_bytes
        self._max_idle = max_idle
        self._clock = clock
        self._bytes = 0
        self._entries: OrderedDict[Scope, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """Characters of values held."""
        return self._bytes

    def lookup(
        self, scope: Scope, generation: int, keys: set[str]
    ) -> tuple[dict[str, ResolvedSecret], set[str]]:
        """(values found, keys not known at this generation); an older entry is dropped."""
        now = self._expire()
        entry = self._entries.get(scope)
        if entry is not None and entry.generation != generation:
            self._drop(scope)
            entry = None
        if entry is None:
            return {}, set(keys)
        entry.used = now
        self._entries.move_to_end(scope)
        found = {k: entry.found[k] for k in keys if k in entry.found}
        unknown = {k for k in keys if k not in entry.found and k not in entry.absent}
        return found, unknown

    def store(
        self,
        scope: Scope,
        generation: int,
        keys: set[str],
        resolved: dict[str, ResolvedSecret],
    ) -> None:
        """Remember ``keys`` as fetched at ``generation`` (those not in ``resolved`` are absent).

        Values fetched at an older generation than the entry's are not stored: they may
        predate a change the entry already reflects.
        """
        now = self._expire()
        entry = self._entries.get(scope)
        if entry is not None and entry.generation > generation:
            return
        if entry is not None and entry.generation < generation:
            self._drop(scope)
            entry = None
        if entry is None:
            entry = _Entry(generation=generation, used=now)
            self._entries[scope] = entry
        entry.used = now
        self._entries.move_to_end(scope)
        for key in keys:
            secret = resolved.get(key)
            if secret is None:
                entry.absent.add(key)
                continue
            previous = entry.found.get(key)
            if previous is not None:
                entry.size -= _value_size(previous)
                self._bytes -= _value_size(previous)
            entry.found[key] = secret
            entry.absent.discard(key)
            entry.size += _value_size(secret)
            self._bytes += _value_size(secret)
        self._evict()

    def drop_organization(self, org: str) -> None:
        """Forget every scope of ``org`` (its secrets changed)."""
        for scope in [s for s in self._entries if s[0] == org]:
            self._drop(scope)

    def _expire(self) -> float:
        now = self._clock()
        while self._entries:
            scope, entry = next(iter(self._entries.items()))
            if now - entry.used <= self._max_idle:
                break
            self._drop(scope)
        return now

    def _drop(self, scope: Scope) -> None:
        entry = self._entries.pop(scope, None)
        if entry is not None:
            self._bytes -= entry.size

    def _evict(self) -> None:
        while self._entries and (
            len(self._entries) > self._max_scopes or self._bytes > self._max_bytes
        ):
            scope = next(iter(self._entries))
            self._drop(scope)


def _value_size(secret: ResolvedSecret) -> int:
    return len(secret.value.get_secret_value())


class CachedSecretsSource:
    """Current values through the cache; pinned versions straight from the secrets service."""

    def __init__(
        self, source: SecretsSource, generations: GenerationSource, cache: ValueCache
    ) -> None:
        self._source = source
        self._generations = generations
        self._cache = cache
        self._fetches: dict[
            tuple[Scope, int, frozenset[str]], asyncio.Future[dict[str, ResolvedSecret]]
        ] = {}

    @property
    def cache(self) -> ValueCache:
        """The cache (change events drop organizations from it)."""
        return self._cache

    async def resolve(
        self,
        org: str,
        customer: str | None,
        pinned: list[PinnedVersion] | None = None,
        keys: set[str] | None = None,
    ) -> dict[str, ResolvedSecret]:
        """Straight to the secrets service (no cache)."""
        return await self._source.resolve(org, customer, pinned, keys)

    async def current(
        self, org: str, customer: str | None, keys: set[str]
    ) -> dict[str, ResolvedSecret]:
        """Current values of ``keys`` for a deployment of this scope, never older than
        any change acknowledged before this call."""
        generation = await self._generations.current(org)
        if generation is None:
            _LOOKUPS.add(1, {"outcome": "uncached"})
            return await self._source.resolve(org, customer, keys=keys)
        scope = (org, customer)
        found, unknown = self._cache.lookup(scope, generation, keys)
        _LOOKUPS.add(1, {"outcome": "miss" if unknown else "hit"})
        if unknown:
            found.update(await self._fetch(scope, generation, frozenset(unknown)))
        return found

    async def _fetch(
        self, scope: Scope, generation: int, keys: frozenset[str]
    ) -> dict[str, ResolvedSecret]:
        """One resolve per (scope, generation, keys) at a time: concurrent misses share it."""
        token = (scope, generation, keys)
        pending = self._fetches.get(token)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = asyncio.get_running_loop().create_future()
        self._fetches[token] = pending
        try:
            resolved = await self._source.resolve(scope[0], scope[1], keys=set(keys))
        except Exception as err:
            pending.set_exception(err)
            # Retrieved here so a failure nobody else awaited is not reported as lost.
            pending.exception()
            raise
        except BaseException:
            pending.cancel()
            raise
        finally:
            del self._fetches[token]
        pending.set_result(resolved)
        # Read after the generation was: the values are at least that new.
        self._cache.store(scope, generation, set(keys), resolved)
        return resolved

    async def pinned(
        self, org: str, customer: str | None, pins: list[PinnedVersion]
    ) -> dict[str, ResolvedSecret]:
        """The pinned versions still kept (the caller checks each: a gone one is an error)."""
        return await self._source.resolve(org, customer, pinned=pins, keys={p.key for p in pins})
