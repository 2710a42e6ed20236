"""Request body limit (413) and per-token rate limit (429), as pure ASGI middleware."""

import hashlib
import json
import math
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse bodies over ``limit`` bytes with 413, before they reach a route."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _respond(
                    send,
                    413,
                    _error("payload_too_large", f"request body is larger than {self.limit} bytes"),
                    [],
                )
                return
        seen = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    too_large = True
                    raise _TooLargeError
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLargeError:
            await _respond(
                send,
                413,
                _error("payload_too_large", f"request body is larger than {self.limit} bytes"),
                [],
            )


class _TooLargeError(Exception):
    pass


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimitMiddleware:
    """A token bucket per bearer token (``rate`` requests/s, burst 2x); 429 + Retry-After."""

    def __init__(self, app: ASGIApp, *, rate: float) -> None:
        self.app = app
        self.rate = rate
        self.burst = max(1.0, rate * 2)
        self.buckets: dict[bytes, _Bucket] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0:
            await self.app(scope, receive, send)
            return
        auth = dict(scope.get("headers", [])).get(b"authorization")
        if not auth:
            await self.app(scope, receive, send)
            return
        key = hashlib.sha256(auth).digest()
        now = time.monotonic()
        bucket = self.buckets.setdefault(key, _Bucket(tokens=self.burst, updated=now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1:
            retry = max(1, math.ceil((1 - bucket.tokens) / self.rate))
            await _respond(
                send,
                429,
                _error("rate_limited", "too many requests for this token"),
                [(b"retry-after", str(retry).encode())],
            )
            return
        bucket.tokens -= 1
        if len(self.buckets) > 100_000:
            self.buckets.clear()
        await self.app(scope, receive, send)
