"""Prometheus ``/metrics``: HTTP requests by route template, method and status, plus OTel metrics.

Labels are route templates (``/api/v1/secrets/{secret_id}``), methods and status codes —
never a path as sent, an id, a token or a value. The registry belongs to the app (no module
global), and the process-wide registry is appended, where OpenTelemetry's Prometheus reader
(installed by ``sigil_shared.telemetry``) and the process collectors live.
"""

import time

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})


class HttpMetrics:
    """The gateway's own request metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "sigil_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "sigil_http_request_duration_seconds",
            "Time to the response's first byte, by route template and method.",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )

    def exposition(self) -> bytes:
        """The text format of these metrics and the process-wide ones."""
        return generate_latest(self.registry) + generate_latest(REGISTRY)


class HttpMetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware task hop): counts and times every HTTP request."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = time.perf_counter() - start
                self.metrics.duration.labels(_route(scope), _method(scope)).observe(elapsed)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.requests.labels(_route(scope), _method(scope), str(status or 500)).inc()


def _route(scope: Scope) -> str:
    # Starlette stores the matched route in the scope; an unmatched path is one label.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _method(scope: Scope) -> str:
    method = scope.get("method", "")
    return method if method in _METHODS else "other"


def install_metrics(app: FastAPI) -> HttpMetrics:
    """Register ``/metrics`` and return the metrics the middleware records into."""
    metrics = HttpMetrics()

    async def scrape() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", scrape, include_in_schema=False)
    return metrics
