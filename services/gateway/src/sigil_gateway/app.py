"""Wiring of the gateway: the only place that builds its broker, routes and handlers."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from opentelemetry import trace

from sigil_gateway.auth import TokenVerifier
from sigil_gateway.errors import install_error_handlers
from sigil_gateway.middleware import BodyLimitMiddleware, RateLimitMiddleware
from sigil_gateway.routes import audit, health, logs, secrets, templates, ui
from sigil_shared.bus import create_broker
from sigil_shared.settings import GatewaySettings


async def trace_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """One server span per request; bus requests made inside it carry its context."""
    route = request.scope.get("route")
    name = f"{request.method} {getattr(route, 'path', request.url.path)}"
    tracer = trace.get_tracer("sigil.gateway")
    with tracer.start_as_current_span(name, kind=trace.SpanKind.SERVER) as span:
        span.set_attribute("http.request.method", request.method)
        response = await call_next(request)
        span.set_attribute("http.route", getattr(request.scope.get("route"), "path", ""))
        span.set_attribute("http.response.status_code", response.status_code)
        return response


def create_app(settings: GatewaySettings) -> FastAPI:
    """Build the gateway's FastAPI app around one NATS connection."""
    broker = create_broker(settings, service="gateway")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()

    app = FastAPI(
        title="Sigil",
        version="0.1.0",
        description="Secrets for vendors and their customers.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
    )
    app.state.broker = broker
    app.state.settings = settings
    app.state.verifier = TokenVerifier.from_settings(settings)
    install_error_handlers(app)
    app.middleware("http")(trace_request)
    for module in (health, secrets, templates, logs, audit, ui):
        app.include_router(module.router)
    app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit)
    app.add_middleware(BodyLimitMiddleware, limit=settings.body_limit)
    return app
