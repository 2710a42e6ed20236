"""Wiring of the secrets service: the only place that builds its broker, adapters and handlers."""

import logging
from datetime import timedelta

from faststream import FastStream
from nats.aio.client import Client as NatsClient
from pymongo import AsyncMongoClient

from sigil_secrets.adapters.audit_intake import AuditIntakeConsumer
from sigil_secrets.adapters.impact import BusImpactSource
from sigil_secrets.adapters.js_audit import JetStreamAuditLog
from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_secrets.adapters.kv_generation import KvGenerationMarker
from sigil_secrets.adapters.kv_store import KvSecretStore
from sigil_secrets.adapters.mongo_store import MongoSecretStore
from sigil_secrets.adapters.nats_events import NatsEventPublisher
from sigil_secrets.audit_admin import audit_keyring
from sigil_secrets.handlers import audit, internal, secrets
from sigil_secrets.ports import SecretStore
from sigil_secrets.service import AUDIT_PAGE_BYTES, SecretsService
from sigil_shared import subjects
from sigil_shared.bus import Deferred, bus_check, create_broker, document_events, register_health
from sigil_shared.settings import SecretsSettings
from sigil_shared.streams import check_streams, streams_ready


def keyring_source(settings: SecretsSettings) -> KeyringSource:
    """The keyring from ``SIGIL_KEK`` or ``SIGIL_KEK_FILE``."""
    inline = settings.kek.get_secret_value() if settings.kek else None
    return KeyringSource(inline=inline, path=None if inline else settings.kek_file)


def build_store(settings: SecretsSettings, nc: NatsClient) -> SecretStore:
    """The store ``SIGIL_STORE`` selects."""
    if settings.store == "mongodb":
        assert settings.mongodb_url is not None
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            settings.mongodb_url.get_secret_value(), w="majority"
        )
        return MongoSecretStore(client, database=settings.mongodb_database)
    return KvSecretStore(
        nc, nc.jetstream(), bucket=subjects.SECRETS_BUCKET, replicas=settings.js_replicas
    )


def create_app(settings: SecretsSettings) -> FastStream:
    """Build the secrets service's FastStream app."""
    broker = create_broker(settings, service="secrets")
    app = FastStream(broker, logger=logging.getLogger("sigil.secrets"))
    keyring = keyring_source(settings)
    audit_keys = audit_keyring(settings)
    consumers: list[AuditIntakeConsumer] = []
    audit_logs: list[JetStreamAuditLog] = []
    service_ref: Deferred[SecretsService] = Deferred("secrets service")
    stores: list[SecretStore] = []

    @app.on_startup
    async def connect() -> None:
        await broker.connect()
        nc = broker.connection
        js = nc.jetstream()
        if not await streams_ready(js, "secrets"):
            return  # not ready: health names what the setup step must fix
        store = build_store(settings, nc)
        audit_log = JetStreamAuditLog(
            nc, js, stream=subjects.AUDIT_STREAM, keyring=audit_keys, replicas=settings.js_replicas
        )
        generation = KvGenerationMarker(js, bucket=subjects.SECRETS_BUCKET)
        await store.setup()
        await audit_log.setup()
        await generation.setup()
        service = SecretsService(
            store=store,
            audit=audit_log,
            events=NatsEventPublisher(nc),
            keyring=keyring,
            generation=generation,
            impact=BusImpactSource(broker, timeout=settings.request_timeout),
            history=settings.history,
            min_mask_length=settings.min_mask_length,
            deleted_retention=timedelta(days=settings.deleted_retention_days),
            mask_replaced_for=timedelta(seconds=settings.mask_replaced_seconds),
            # An audit query page, and an event alone on one, must fit one reply.
            audit_page_bytes=min(AUDIT_PAGE_BYTES, nc.max_payload - 16 * 1024),
            audit_event_bytes=nc.max_payload - 16 * 1024,
            redaction_page_bytes=nc.max_payload - 64 * 1024,
        )
        service_ref.set(service)
        stores.append(store)
        audit_logs.append(audit_log)
        # Value uses (contract C1): renders and validations, appended to the same chains.
        intake = AuditIntakeConsumer(nc, audit_log)
        await intake.start()
        consumers.append(intake)

    @app.on_shutdown
    async def close() -> None:
        for consumer in consumers:
            await consumer.stop()
        for audit_log in audit_logs:
            await audit_log.close()
        for store in stores:
            await store.close()

    async def check() -> dict[str, str]:
        checks = await bus_check(broker)
        if checks["nats"] == "ok":
            checks.update(await check_streams(broker.connection.jetstream(), "secrets"))
        if service_ref.ready:
            checks.update(await service_ref.get().health())
            for audit_log in audit_logs:  # degraded entries: forged messages on a chain
                checks.update(audit_log.findings())
        else:
            checks["service"] = "not started"
        return checks

    register_health(broker, "secrets", check)
    document_events(broker, "secrets")
    secrets.register(broker, service_ref)
    internal.register(broker, service_ref)
    audit.register(broker, service_ref)
    return app
