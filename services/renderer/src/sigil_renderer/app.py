"""Wiring of the renderer service: the only place that builds its broker, adapters and handlers."""

import logging

from faststream import FastStream

from sigil_renderer.adapters.events import NatsReceiptPublisher
from sigil_renderer.adapters.receipts import KvReceiptStore
from sigil_renderer.adapters.secrets_source import BusSecretsSource
from sigil_renderer.handlers import templates
from sigil_renderer.handlers.deps import SERVICE_CONTEXT_KEY
from sigil_renderer.service import RendererService
from sigil_shared import subjects
from sigil_shared.bus import bus_check, create_broker, document_publishers, register_health
from sigil_shared.contracts import ReceiptRecorded
from sigil_shared.settings import RendererSettings


def create_app(settings: RendererSettings) -> FastStream:
    """Build the renderer's FastStream app."""
    broker = create_broker(settings, service="renderer")
    app = FastStream(broker, logger=logging.getLogger("sigil.renderer"))

    @app.on_startup
    async def connect() -> None:
        await broker.connect()
        nc = broker.connection
        receipts = KvReceiptStore(
            nc, nc.jetstream(), bucket=subjects.RECEIPTS_BUCKET, replicas=settings.js_replicas
        )
        await receipts.setup()
        service = RendererService(
            secrets=BusSecretsSource(broker, timeout=settings.request_timeout),
            receipts=receipts,
            events=NatsReceiptPublisher(nc),
        )
        app.context.set_global(SERVICE_CONTEXT_KEY, service)

    async def check() -> dict[str, str]:
        return await bus_check(broker)

    register_health(broker, "renderer", check)
    document_publishers(
        broker,
        [
            (
                "sigil.events.receipt.{org}",
                ReceiptRecorded,
                "A deployment revision was rendered: (key, scope, version) triples, never values",
            ),
        ],
    )
    templates.register(broker)
    return app
