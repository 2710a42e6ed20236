"""Operator tasks run by the ``sigil`` command: key rotation (audit: ``audit_admin``)."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.aio.client import Client as NatsClient

from sigil_secrets.app import build_store, keyring_source
from sigil_secrets.domain.crypto import Keyring, new_key_entry, rewrap
from sigil_secrets.errors import KeyringError
from sigil_secrets.ports import SecretStore
from sigil_shared import subjects
from sigil_shared.settings import SecretsSettings

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RotationReport:
    """What one ``sigil keys rotate`` run did."""

    current_key: str
    envelopes: int
    rewrapped: int
    skipped_changed: int


def add_key(path: Path, key_id: str) -> None:
    """Put a new current key at the top of the keyring file, keeping the others."""
    text = path.read_text(encoding="utf-8")
    path.write_text(new_key_entry(key_id) + "\n" + text, encoding="utf-8")


async def _connect(settings: SecretsSettings) -> NatsClient:
    password = settings.nats_password.get_secret_value() if settings.nats_password else None
    return await nats.connect(
        settings.nats_servers,
        user=settings.nats_user,
        password=password,
        name="sigil-admin",
        # Replies may come only to the user's private inbox prefix.
        inbox_prefix=subjects.inbox_prefix(settings.nats_user) if settings.nats_user else "_INBOX",
    )


async def rotate_store(
    store: SecretStore, keyring: Keyring, *, progress: Progress
) -> RotationReport:
    """Re-wrap every data key of an open store that is not under the current KEK.

    Each envelope is swapped only if unchanged since it was read, so running services
    keep writing meanwhile; interrupt and run again at will.
    """
    entries = [entry async for entry in store.envelopes()]
    rewrapped = skipped = 0
    for done, (location, envelope) in enumerate(entries, start=1):
        if envelope.kek_id != keyring.current:
            if await store.rewrap_at(location, envelope, rewrap(keyring, envelope)):
                rewrapped += 1
            else:
                skipped += 1
        progress(done, len(entries))
    return RotationReport(keyring.current, len(entries), rewrapped, skipped)


async def rewrap_all(settings: SecretsSettings, *, progress: Progress) -> RotationReport:
    """Re-wrap every data key not under the current KEK; safe to interrupt and run again."""
    keyring = keyring_source(settings).get()
    nc = await _connect(settings)
    try:
        store = build_store(settings, nc)
        await store.setup()
        try:
            # The store stays open until the re-wrap loop is done with it (a MongoDB store
            # closed early refused every swap).
            return await rotate_store(store, keyring, progress=progress)
        finally:
            await store.close()
    finally:
        await nc.close()


async def keys_in_use(settings: SecretsSettings) -> dict[str, int]:
    """How many envelopes each KEK wraps (a key at 0 can be retired)."""
    nc = await _connect(settings)
    try:
        store = build_store(settings, nc)
        await store.setup()
        counts: dict[str, int] = {}
        try:
            async for _, envelope in store.envelopes():
                counts[envelope.kek_id] = counts.get(envelope.kek_id, 0) + 1
        finally:
            await store.close()
    finally:
        await nc.close()
    return counts


__all__ = [
    "KeyringError",
    "RotationReport",
    "add_key",
    "keys_in_use",
    "rewrap_all",
    "rotate_store",
]
