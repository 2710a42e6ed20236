"""Wiring of the redactor: the only place that builds its broker, adapters and handlers."""

import logging

from faststream import FastStream

from sigil_redactor.adapters.consumer import RawLogConsumer
from sigil_redactor.adapters.log_streams import RedactedLogStore, ensure_streams
from sigil_redactor.adapters.sources import BusValuesSource, KvReceiptReader
from sigil_redactor.handlers import events, logs
from sigil_redactor.handlers.deps import SERVICE_CONTEXT_KEY
from sigil_redactor.service import RedactorService
from sigil_shared.bus import bus_check, create_broker, document_publishers, register_health
from sigil_shared.contracts import LogRecord
from sigil_shared.settings import RedactorSettings

#: Above this many waiting raw records the redactor reports itself not ready.
BACKLOG_LIMIT = 100_000


def create_app(settings: RedactorSettings) -> FastStream:
    """Build the redactor's FastStream app."""
    broker = create_broker(settings, service="redactor")
    app = FastStream(broker, logger=logging.getLogger("sigil.redactor"))
    running: list[tuple[RedactorService, RawLogConsumer]] = []

    @app.on_startup
    async def connect() -> None:
        await broker.connect()
        nc = broker.connection
        await ensure_streams(nc, settings)
        service = RedactorService(
            receipts=KvReceiptReader(nc),
            values=BusValuesSource(broker, timeout=settings.request_timeout),
            logs=RedactedLogStore(nc),
            min_length=settings.min_mask_length,
            cache_size=settings.matcher_cache_size,
        )
        app.context.set_global(SERVICE_CONTEXT_KEY, service)
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
        for service, consumer in running:
            checks.update(service.health())
            waiting = consumer.backlog
            checks["backlog"] = "ok" if waiting < BACKLOG_LIMIT else f"{waiting} records waiting"
        return checks

    register_health(broker, "redactor", check)
    document_publishers(
        broker,
        [
            (
                "sigil.logs.redacted.{org}.{deployment}",
                LogRecord,
                "Redacted log lines (stream SIGIL_LOGS_REDACTED); every secret form is ********",
            ),
        ],
    )
    logs.register(broker)
    events.register(broker)
    return app
