"""Wiring of the gateway: the only place that builds its broker, routes and handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from nats.errors import Error as NatsError

from sigil_gateway.auth import TokenVerifier
from sigil_gateway.docs import describe, install_docs
from sigil_gateway.errors import install_error_handlers
from sigil_gateway.metrics import HttpMetricsMiddleware, install_metrics
from sigil_gateway.middleware import BodyLimitMiddleware, RateLimitMiddleware, TracingMiddleware
from sigil_gateway.routes import audit, health, logs, secrets, templates, ui
from sigil_shared.bus import create_broker
from sigil_shared.settings import GatewaySettings
from sigil_shared.telemetry import tracing_enabled


def create_app(settings: GatewaySettings) -> FastAPI:
    """Build the gateway's FastAPI app around one NATS connection."""
    broker = create_broker(settings, service="gateway")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await broker.start()
        try:
            yield
        finally:
            # A connection already closed has nothing left to drain.
            with suppress(NatsError):
                await broker.stop()

    app = FastAPI(
        title="Sigil",
        version="0.1.0",
        description="Secrets for vendors and their customers.",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.openapi = lambda: describe(app)  # type: ignore[method-assign]
    verifier = TokenVerifier.from_settings(settings)
    app.state.broker = broker
    app.state.settings = settings
    app.state.verifier = verifier
    install_error_handlers(app)
    install_docs(app)
    metrics = install_metrics(app)
    for module in (health, secrets, templates, logs, audit, ui):
        app.include_router(module.router)
    # Outermost last. Tracing is a middleware only when a tracer provider is installed:
    # with tracing off a request pays nothing for it.
    app.add_middleware(
        RateLimitMiddleware,
        rate=settings.rate_limit,
        anonymous_rate=settings.anonymous_rate_limit,
        is_valid=verifier.is_valid,
    )
    app.add_middleware(BodyLimitMiddleware, limit=settings.body_limit)
    if tracing_enabled():
        app.add_middleware(TracingMiddleware)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    return app
