"""Body limit (413), rate limits (429) and tracing, as pure ASGI middleware."""

import hashlib
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from opentelemetry import trace
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


_MAX_DIGITS = 15


class BodyLimitMiddleware:
    """Refuse bodies over ``limit`` bytes with 413, before they reach a route.

    A declared ``Content-Length`` is checked up front. A body without one (chunked) is read
    here up to the limit and handed on whole: failing inside the route's own body read would
    surface as FastAPI's generic 400 instead of 413.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def _refuse(self, send: Send) -> None:
        await _respond(
            send,
            413,
            _error("payload_too_large", f"request body is larger than {self.limit} bytes"),
            [],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                declared = value
        if declared is not None:
            # Length first: int() of thousands of digits is Python's error, not a size.
            if declared.isdigit() and (len(declared) > _MAX_DIGITS or int(declared) > self.limit):
                await self._refuse(send)
                return
            # The server stops reading at the declared length, so it bounds the body.
            await self.app(scope, receive, send)
            return
        if scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nothing to answer
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


@dataclass
class _Limiter:
    """Token buckets per key (``rate`` requests/s, burst 2x), bounded in memory."""

    rate: float
    buckets: dict[bytes, _Bucket] = field(default_factory=dict)

    def take(self, key: bytes) -> int:
        """0 when the request may go on, else the seconds to wait (for Retry-After)."""
        burst = max(1.0, self.rate * 2)
        now = time.monotonic()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= _MAX_BUCKETS:
                # Bounded: forgetting every bucket only ever lets callers through early.
                self.buckets.clear()
            bucket = self.buckets[key] = _Bucket(tokens=burst, updated=now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1:
            return max(1, math.ceil((1 - bucket.tokens) / self.rate))
        bucket.tokens -= 1
        return 0


_MAX_BUCKETS = 100_000


class RateLimitMiddleware:
    """429 + Retry-After: per valid token, and per client address for everything else.

    A request with a valid token is counted against that token (``rate``); any other — no
    token or an invalid one — against the client address (``anonymous_rate``), so junk
    tokens cannot dodge the limit. ``is_valid`` verifies through the token cache, so the
    route's own authentication then costs a dictionary look-up. Limits are per gateway
    replica: with N replicas a caller gets up to N times the rate (see the README).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate: float,
        anonymous_rate: float,
        is_valid: Callable[[str], Awaitable[bool]],
    ) -> None:
        self.app = app
        self.tokens = _Limiter(rate) if rate > 0 else None
        self.addresses = _Limiter(anonymous_rate) if anonymous_rate > 0 else None
        self.is_valid = is_valid

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.tokens is None and self.addresses is None):
            await self.app(scope, receive, send)
            return
        auth = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                auth = value
        if auth is not None and await self.is_valid(auth.decode("latin-1")):
            limiter, key, what = self.tokens, hashlib.sha256(auth).digest(), "token"
        else:
            client = scope.get("client")
            address = client[0] if client else "unknown"
            limiter, key, what = self.addresses, address.encode(), "client address"
        wait = limiter.take(key) if limiter is not None else 0
        if wait:
            await _respond(
                send,
                429,
                _error("rate_limited", f"too many requests for this {what}"),
                [(b"retry-after", str(wait).encode())],
            )
            return
        await self.app(scope, receive, send)


class TracingMiddleware:
    """One server span per request (pure ASGI); installed only when tracing is on.

    Bus requests made inside the span carry its context in their NATS headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tracer = trace.get_tracer("sigil.gateway")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "")
        with self.tracer.start_as_current_span(method, kind=trace.SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", method)

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                # The route is known only once the router has matched it; a raw path
                # could carry ids, so an unmatched request is named by its method alone.
                route = getattr(scope.get("route"), "path", "")
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
