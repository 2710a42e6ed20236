"""KvGenerationMarker: contract C2, ``g.<org>`` in the secrets bucket, raised after every change.

The value is an ASCII decimal that strictly increases: each write is a compare-and-set of
the previous value plus one, so two replicas can never move it backwards. Writes are
group-committed per organization: callers that arrive while a write is in flight share
the next write, so a burst of a thousand creates costs a handful of round trips. A caller
returns only after a write that *began after it called* has landed, which is what makes
the renderer's check sound: after a change is acknowledged, the generation differs from
any value a renderer could have read before the change.
"""

import asyncio
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import Error as JsError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from sigil_secrets.errors import StoreUnavailableError
from sigil_shared import subjects

_ATTEMPTS = 16


@dataclass
class _OrgGeneration:
    """One organization's writer state: the last value seen and the waiters of the next write."""

    known: tuple[int, int] | None = None  # (generation, KV revision of g.<org>)
    next: "asyncio.Future[None] | None" = None
    writing: bool = False


class KvGenerationMarker:
    """The GenerationMarker port on the secrets KV bucket."""

    def __init__(self, js: JetStreamContext, *, bucket: str) -> None:
        self._js = js
        self._bucket = bucket
        self._kv: KeyValue | None = None
        self._orgs: dict[str, _OrgGeneration] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def setup(self) -> None:
        """Bind to the secrets bucket (created by the setup step or the KV store)."""
        try:
            self._kv = await self._js.key_value(self._bucket)
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secrets bucket is unavailable") from err

    async def advance(self, organization_id: str) -> None:
        """Join the next write of ``g.<org>`` and wait until it has landed."""
        state = self._orgs.setdefault(organization_id, _OrgGeneration())
        if state.next is None:
            state.next = asyncio.get_running_loop().create_future()
        waiting = state.next
        if not state.writing:
            state.writing = True
            task = asyncio.create_task(self._write_loop(organization_id, state))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.shield(waiting)

    async def _write_loop(self, org: str, state: _OrgGeneration) -> None:
        # No await between checking ``next`` and clearing ``writing``: a caller arriving
        # after the last check starts a new writer.
        while state.next is not None:
            batch, state.next = state.next, None
            try:
                await self._raise(org, state)
            except StoreUnavailableError as err:
                batch.set_exception(err)
            except Exception as err:  # noqa: BLE001 - a task boundary: waiters must always wake
                state.known = None
                failure = StoreUnavailableError("scope generation could not be written")
                failure.__cause__ = err
                batch.set_exception(failure)
            else:
                batch.set_result(None)
        state.writing = False

    async def _raise(self, org: str, state: _OrgGeneration) -> None:
        key = subjects.generation_key(org)
        if self._kv is None:
            raise StoreUnavailableError("scope generation store is not set up")
        kv = self._kv
        try:
            for _ in range(_ATTEMPTS):
                if state.known is None:
                    state.known = await self._read(kv, key)
                value, revision = state.known
                try:
                    new_revision = await kv.update(key, str(value + 1).encode(), last=revision)
                except KeyWrongLastSequenceError:
                    state.known = None  # another replica wrote it: re-read and go again
                    continue
                state.known = (value + 1, new_revision)
                return
        except (JsError, TimeoutError) as err:
            state.known = None
            raise StoreUnavailableError("scope generation could not be written") from err
        raise StoreUnavailableError("scope generation is contended; try again")

    @staticmethod
    async def _read(kv: KeyValue, key: str) -> tuple[int, int]:
        """The current (generation, revision); (0, 0) when never written (create-only)."""
        try:
            entry = await kv.get(key)
        except KeyNotFoundError as err:
            # A deleted key still has a revision to compare against; a new one has none.
            entry_revision = getattr(getattr(err, "entry", None), "revision", None)
            return 0, entry_revision or 0
        value = int((entry.value or b"0").decode() or "0")
        return value, entry.revision or 0
