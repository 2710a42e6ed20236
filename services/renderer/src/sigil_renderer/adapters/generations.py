"""NatsGenerationSource: an organization's scope generation (contract C2) read from the KV.

The secrets service writes ``g.<org>`` in its bucket after every committed change and
before acknowledging it, so a read of that key issued after a render request arrived
sees every change acknowledged before the request was published. The renderer may read
only those keys (a direct get whose subject names the key, so NATS permissions can
limit it to ``g.*``).
"""

import asyncio

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from sigil_shared import subjects

_STATUS = "Status"
_KV_OPERATION = "KV-Operation"


def parse_generation(headers: dict[str, str] | None, data: bytes) -> int | None:
    """The generation in a direct-get reply; None when the key is missing or malformed."""
    headers = headers or {}
    if _STATUS in headers or headers.get(_KV_OPERATION) in ("DEL", "PURGE"):
        return None
    text = data.decode("ascii", "replace").strip()
    return int(text) if text.isdigit() and len(text) <= 20 else None


class NatsGenerationSource:
    """Direct gets of ``g.<org>``; concurrent callers for one org share one read.

    A caller may only share a read that is sent after it called (a read already in
    flight could predate a change acknowledged just before its request), so each read
    is sent on the next loop iteration and serves exactly the callers that joined
    before that.
    """

    def __init__(
        self, nc: NatsClient, *, bucket: str = subjects.SECRETS_BUCKET, timeout: float
    ) -> None:
        self._nc = nc
        self._prefix = f"$JS.API.DIRECT.GET.{subjects.kv_stream(bucket)}.$KV.{bucket}."
        self._timeout = timeout
        self._waiting: dict[str, asyncio.Future[int | None]] = {}
        self._reads: set[asyncio.Task[None]] = set()

    async def current(self, org: str) -> int | None:
        """The generation as of a read sent after this call began; None if unknown."""
        waiting = self._waiting.get(org)
        if waiting is None:
            loop = asyncio.get_running_loop()
            waiting = loop.create_future()
            self._waiting[org] = waiting
            loop.call_soon(self._send, org, waiting)
        return await asyncio.shield(waiting)

    def _send(self, org: str, waiting: asyncio.Future[int | None]) -> None:
        # From here on, new callers start a later read.
        if self._waiting.get(org) is waiting:
            del self._waiting[org]
        task = asyncio.ensure_future(self._read(org, waiting))
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    async def _read(self, org: str, waiting: asyncio.Future[int | None]) -> None:
        try:
            msg = await self._nc.request(
                self._prefix + subjects.generation_key(org), b"", timeout=self._timeout
            )
            generation = parse_generation(msg.headers, msg.data)
        except (NatsError, TimeoutError):
            # Unknown: the caller then resolves without the cache, which is always fresh.
            generation = None
        if not waiting.done():
            waiting.set_result(generation)
