"""Wiring of the renderer service: the only place that builds its broker, adapters and handlers."""

import logging

from faststream import FastStream

from sigil_renderer.adapters.audit_intake import JsAuditIntake
from sigil_renderer.adapters.cached_secrets import CachedSecretsSource, ValueCache
from sigil_renderer.adapters.events import NatsReceiptPublisher
from sigil_renderer.adapters.generations import NatsGenerationSource
from sigil_renderer.adapters.receipts import KvReceiptStore
from sigil_renderer.adapters.secrets_source import BusSecretsSource
from sigil_renderer.handlers import changes, templates
from sigil_renderer.service import RendererService
from sigil_shared import subjects
from sigil_shared.bus import Deferred, bus_check, create_broker, document_events, register_health
from sigil_shared.settings import RendererSettings
from sigil_shared.streams import check_streams, streams_ready


def create_app(settings: RendererSettings) -> FastStream:
    """Build the renderer's FastStream app."""
    broker = create_broker(settings, service="renderer")
    app = FastStream(broker, logger=logging.getLogger("sigil.renderer"))
    service_ref: Deferred[RendererService] = Deferred("renderer service")
    values = ValueCache()

    @app.on_startup
    async def connect() -> None:
        await broker.connect()
        nc = broker.connection
        if not await streams_ready(nc.jetstream(), "renderer"):
            return  # not ready: health names what the setup step must fix
        receipts = KvReceiptStore(
            nc, nc.jetstream(), bucket=subjects.RECEIPTS_BUCKET, replicas=settings.js_replicas
        )
        await receipts.setup()
        service = RendererService(
            secrets=CachedSecretsSource(
                BusSecretsSource(broker, timeout=settings.request_timeout),
                NatsGenerationSource(nc, timeout=settings.request_timeout),
                values,
            ),
            receipts=receipts,
            events=NatsReceiptPublisher(nc),
            audit=JsAuditIntake(nc.jetstream(), timeout=settings.request_timeout),
        )
        service_ref.set(service)

    async def check() -> dict[str, str]:
        checks = await bus_check(broker)
        if checks["nats"] == "ok":
            checks.update(await check_streams(broker.connection.jetstream(), "renderer"))
        checks["service"] = "ok" if service_ref.ready else "not started"
        return checks

    register_health(broker, "renderer", check)
    document_events(broker, "renderer")
    templates.register(broker, service_ref)
    changes.register(broker, values)
    return app
