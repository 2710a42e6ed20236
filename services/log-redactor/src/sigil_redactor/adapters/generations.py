"""An organization's scope generation (contract C2), read from the secrets bucket.

The secrets service raises ``g.<org>`` after every committed change and before it
acknowledges the change. The redactor reads it for each fetched batch (after the batch
arrived) and for each page: a matcher built before that generation is rebuilt first, so a
line logged after an acknowledged update is never stored with the new value visible — even
when the change event is late or lost. Direct get only, of ``g.*`` keys only.
"""

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from sigil_shared import subjects

_STATUS = "Status"
_KV_OPERATION = "KV-Operation"
_NOT_FOUND = "404"


class KvGenerationReader:
    """``current(org)``: the generation, 0 if the organization never changed, None if unknown."""

    def __init__(self, nc: NatsClient, *, timeout: float) -> None:
        bucket = subjects.SECRETS_BUCKET
        self._nc = nc
        self._prefix = f"$JS.API.DIRECT.GET.{subjects.kv_stream(bucket)}.$KV.{bucket}."
        self._timeout = timeout

    async def current(self, org: str) -> int | None:
        """One direct get of ``g.<org>``."""
        try:
            msg = await self._nc.request(
                self._prefix + subjects.generation_key(org), b"", timeout=self._timeout
            )
        except (NatsError, TimeoutError):
            return None
        headers = msg.headers or {}
        status = headers.get(_STATUS)
        if status == _NOT_FOUND or headers.get(_KV_OPERATION) in ("DEL", "PURGE"):
            return 0
        if status is not None:
            return None
        text = msg.data.decode("ascii", "replace").strip()
        return int(text) if text.isdigit() and len(text) <= 20 else None
