"""Wiring of the redactor: the only place that builds its broker, adapters and handlers."""

import logging

from faststream import FastStream

from sigil_redactor.adapters.consumer import RawLogConsumer
from sigil_redactor.adapters.generations import KvGenerationReader
from sigil_redactor.adapters.log_streams import RedactedLogStore
from sigil_redactor.adapters.sources import BusValuesSource, KvReceiptReader
from sigil_redactor.handlers import events, logs
from sigil_redactor.service import RedactorService
from sigil_shared.bus import Deferred, bus_check, create_broker, document_events, register_health
from sigil_shared.settings import RedactorSettings
from sigil_shared.streams import check_streams, streams_ready

#: Above this many waiting raw records the redactor reports itself not ready.
BACKLOG_LIMIT = 100_000


def create_app(settings: RedactorSettings) -> FastStream:
    """Build the redactor's FastStream app."""
    broker = create_broker(settings, service="redactor")
    app = FastStream(broker, logger=logging.getLogger("sigil.redactor"))
    service_ref: Deferred[RedactorService] = Deferred("redactor service")
    running: list[tuple[RedactorService, RawLogConsumer]] = []

    @app.on_startup
    async def connect() -> None:
        await broker.connect()
        nc = broker.connection
        if not await streams_ready(nc.jetstream(), "redactor"):
            return  # not ready: health names what the setup step must fix
        service = RedactorService(
            receipts=KvReceiptReader(nc),
            values=BusValuesSource(broker, timeout=settings.request_timeout),
            logs=RedactedLogStore(nc),
            generations=KvGenerationReader(nc, timeout=settings.request_timeout),
            min_length=settings.min_mask_length,
            cache_size=settings.matcher_cache_size,
        )
        service_ref.set(service)
        consumer = RawLogConsumer(
            nc, service, batch=settings.batch_size, ack_wait=settings.ack_wait
        )
        running.append((service, consumer))

    @app.after_startup
    async def start_consumer() -> None:
        for _, consumer in running:
            await consumer.start()

    @app.on_shutdown
    async def stop_consumer() -> None:
        for _, consumer in running:
            await consumer.stop()

    async def check() -> dict[str, str]:
        checks = await bus_check(broker)
        if checks["nats"] == "ok":
            checks.update(await check_streams(broker.connection.jetstream(), "redactor"))
        if not running:
            checks["service"] = "not started"
        for service, consumer in running:
            checks.update(service.health())
            waiting = consumer.backlog
            checks["backlog"] = "ok" if waiting < BACKLOG_LIMIT else f"{waiting} records waiting"
        return checks

    register_health(broker, "redactor", check)
    document_events(broker, "redactor")
    logs.register(broker, service_ref)
    events.register(broker, service_ref)
    return app
