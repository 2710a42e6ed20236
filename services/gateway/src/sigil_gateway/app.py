"""Wiring of the gateway: the only place that builds its broker, routes and handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sigil_gateway.auth import TokenVerifier
from sigil_gateway.errors import install_error_handlers
from sigil_gateway.middleware import BodyLimitMiddleware, RateLimitMiddleware
from sigil_gateway.routes import audit, health, logs, secrets, templates, ui
from sigil_shared.bus import create_broker
from sigil_shared.settings import GatewaySettings


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
    for module in (health, secrets, templates, logs, audit, ui):
        app.include_router(module.router)
    app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit)
    app.add_middleware(BodyLimitMiddleware, limit=settings.body_limit)
    return app
