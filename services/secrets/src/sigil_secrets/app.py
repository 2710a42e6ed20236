"""Wiring of the secrets service: the only place that builds its broker, adapters and handlers."""

import logging
from datetime import timedelta

from faststream import FastStream
from nats.aio.client import Client as NatsClient
from pymongo import AsyncMongoClient

from sigil_secrets.adapters.impact import BusImpactSource
from sigil_secrets.adapters.js_audit import JetStreamAuditLog
from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_secrets.adapters.kv_store import KvSecretStore
from sigil_secrets.adapters.mongo_store import MongoSecretStore
from sigil_secrets.adapters.nats_events import NatsEventPublisher
from sigil_secrets.handlers import audit, internal, secrets
from sigil_secrets.handlers.deps import SERVICE_CONTEXT_KEY
from sigil_secrets.ports import SecretStore
from sigil_secrets.service import SecretsService
from sigil_shared.bus import bus_check, create_broker, document_publishers, register_health
from sigil_shared.contracts import AuditEvent, SecretChanged
from sigil_shared.settings import SecretsSettings


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
        nc, nc.jetstream(), bucket=settings.secrets_bucket, replicas=settings.js_replicas
    )


def create_app(settings: SecretsSettings) -> FastStream:
    """Build the secrets service's FastStream app."""
    broker = create_broker(settings, service="secrets")
    app = FastStream(broker, logger=logging.getLogger("sigil.secrets"))
    keyring = keyring_source(settings)
    built: list[SecretsService] = []
    stores: list[SecretStore] = []

    @app.on_startup
    async def connect() -> None:
        await broker.connect()
        nc = broker.connection
        js = nc.jetstream()
        store = build_store(settings, nc)
        audit_log = JetStreamAuditLog(
            nc, js, stream=settings.audit_stream, replicas=settings.js_replicas
        )
        await store.setup()
        await audit_log.setup()
        service = SecretsService(
            store=store,
            audit=audit_log,
            events=NatsEventPublisher(nc),
            keyring=keyring,
            impact=BusImpactSource(broker, timeout=settings.request_timeout),
            history=settings.history,
            min_mask_length=settings.min_mask_length,
            deleted_retention=timedelta(days=settings.deleted_retention_days),
        )
        app.context.set_global(SERVICE_CONTEXT_KEY, service)
        built.append(service)
        stores.append(store)

    @app.on_shutdown
    async def close() -> None:
        for store in stores:
            await store.close()

    async def check() -> dict[str, str]:
        checks = await bus_check(broker)
        if built:
            checks.update(await built[0].health())
        return checks

    register_health(broker, "secrets", check)
    document_publishers(
        broker,
        [
            (
                "sigil.audit.{org}.{action}",
                AuditEvent,
                "Every command, applied or refused; durable in SIGIL_AUDIT; never a value",
            ),
            (
                "sigil.events.secret.{change}.{org}",
                SecretChanged,
                "created / updated / deleted, with tooShortToMask; never a value",
            ),
        ],
    )
    secrets.register(broker)
    internal.register(broker)
    audit.register(broker)
    return app
