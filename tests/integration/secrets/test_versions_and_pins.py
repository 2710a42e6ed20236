"""Version history under races, pinned versions, the scope generation (C2) and key rotation."""

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import nats
import pytest
from faststream.nats import NatsBroker
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pymongo import AsyncMongoClient

from sigil_secrets import admin
from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_secrets.adapters.kv_store import KvSecretStore, version_key
from sigil_secrets.adapters.mongo_store import MongoSecretStore
from sigil_secrets.domain.crypto import record_aad, seal
from sigil_secrets.domain.model import SecretRecord, VersionMeta
from sigil_secrets.errors import StoreUnavailableError
from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import (
    PinnedVersion,
    RedactionValuesReply,
    RedactionValuesRequest,
    SecretResolveReply,
    SecretResolveRequest,
    TemplateRenderReply,
    TemplateRenderRequest,
)
from sigil_shared.errors import ConflictError, NotFoundError, SigilError, UnavailableError
from sigil_shared.settings import SecretsSettings
from tests.helpers import NatsFixture, start_nats
from tests.integration.bus_client import SecretsClient, actor, bus_as
from tests.integration.stack import running_stack

CANARY = "canary-Versions-7741"


@pytest.fixture
async def secrets_kv(nats_server: NatsFixture) -> AsyncIterator[KeyValue]:
    """The secrets bucket as the secrets service's own NATS user sees it."""
    creds = nats_server.creds("secrets")
    nc = await nats.connect(
        creds["nats_url"],
        user="secrets",
        password=creds["nats_password"],
        inbox_prefix="_INBOX.secrets",
    )
    yield await nc.jetstream().key_value(subjects.SECRETS_BUCKET)
    await nc.close()


async def _resolve(
    renderer: NatsBroker, org: str, key: str, pinned: list[PinnedVersion]
) -> dict[str, str]:
    reply = await SecretsClient(renderer).call(
        subjects.SECRET_RESOLVE,
        SecretResolveRequest(organization_id=org, pinned=pinned, keys=[key]),
        SecretResolveReply,
    )
    return {s.key: s.value.get_secret_value() for s in reply.secrets}


async def test_concurrent_updates_keep_every_acknowledged_version(
    client: SecretsClient, org: str, nats_server: NatsFixture
) -> None:
    admin_actor = actor(org)
    meta = await client.create(admin_actor, "RACED", f"{CANARY}-v1")
    writers = 16

    async def write(i: int) -> tuple[int, str] | SigilError:
        value = f"{CANARY}-writer-{i}"
        try:
            reply = await client.update(admin_actor, meta.id, value)
        except ConflictError as err:  # gave up after its retries: told, not lost
            return err
        return reply.version, value

    results = await asyncio.gather(*(write(i) for i in range(writers)))
    acked = [r for r in results if isinstance(r, tuple)]
    assert len(acked) >= writers // 2
    versions = [version for version, _ in acked]
    assert len(set(versions)) == len(versions), "two writers were told the same version"
    detail = await client.get(admin_actor, meta.id)
    assert set(versions) <= {v.version for v in detail.versions}
    async with bus_as(nats_server, "renderer") as renderer:
        for version, value in acked:
            pin = PinnedVersion(key="RACED", version=version)
            assert await _resolve(renderer, org, "RACED", [pin]) == {"RACED": value}


async def test_updates_racing_across_two_replicas_lose_no_acknowledged_version(
    nats_server: NatsFixture, unique: str
) -> None:
    org = f"race2-{unique}"
    async with (
        running_stack(nats_server, services=("secrets",)),
        running_stack(nats_server, services=("secrets",)),
        bus_as(nats_server, "gateway") as gateway,
        bus_as(nats_server, "renderer") as renderer,
    ):
        client = SecretsClient(gateway)
        meta = await client.create(actor(org), "RACED2", f"{CANARY}-v1")

        async def write(i: int) -> tuple[int, str] | None:
            value = f"{CANARY}-replica-writer-{i}"
            try:
                reply = await client.update(actor(org), meta.id, value)
            except ConflictError:
                return None
            return reply.version, value

        acked = [r for r in await asyncio.gather(*(write(i) for i in range(20))) if r]
        assert len(acked) >= 10
        assert len({v for v, _ in acked}) == len(acked)
        for version, value in acked:
            pin = PinnedVersion(key="RACED2", version=version)
            assert await _resolve(renderer, org, "RACED2", [pin]) == {"RACED2": value}
        # Read-your-writes across replicas: a resolve sent after an acknowledged update
        # gets the new value, whichever replica acknowledged it and whichever answers.
        for n in range(20):
            value = f"{CANARY}-fresh-{n}"
            await client.update(actor(org), meta.id, value)
            assert await _resolve(renderer, org, "RACED2", []) == {"RACED2": value}


async def _generation(kv: KeyValue, org: str) -> int:
    try:
        entry = await kv.get(subjects.generation_key(org))
    except KeyNotFoundError:
        return 0
    raw = (entry.value or b"").decode()
    assert raw.isascii()
    assert raw.isdigit()
    return int(raw)


async def test_generation_rises_before_every_acknowledged_change(
    client: SecretsClient, org: str, secrets_kv: KeyValue
) -> None:
    admin_actor = actor(org)
    seen = [await _generation(secrets_kv, org)]
    meta = await client.create(admin_actor, "GEN", f"{CANARY}-1")
    seen.append(await _generation(secrets_kv, org))
    await client.update(admin_actor, meta.id, f"{CANARY}-2")
    seen.append(await _generation(secrets_kv, org))
    await client.delete(admin_actor, meta.id)
    seen.append(await _generation(secrets_kv, org))
    assert seen == sorted(set(seen)), f"generation must strictly increase: {seen}"

    # A burst: each command's generation, read right after its acknowledgement, is above
    # the one read before it was sent (group commit never answers from an older write).
    async def create_and_read(i: int) -> tuple[int, int]:
        before = await _generation(secrets_kv, org)
        await client.create(admin_actor, f"BURST_{i}", f"{CANARY}-{i}")
        return before, await _generation(secrets_kv, org)

    pairs = await asyncio.gather(*(create_and_read(i) for i in range(30)))
    assert all(after > before for before, after in pairs)
    # A refused command changes nothing.
    last = await _generation(secrets_kv, org)
    with pytest.raises(ConflictError):
        await client.create(admin_actor, "BURST_0", "dup")
    assert await _generation(secrets_kv, org) == last


async def _render(platform: NatsBroker, org: str, deployment: str) -> TemplateRenderReply:
    result: TemplateRenderReply = await request(
        platform,
        ops.TEMPLATE_RENDER,
        TemplateRenderRequest(
            organization_id=org,
            deployment_id=deployment,
            revision=1,
            env_file="PW={{ .Secrets.PINNED }}\n",
        ),
        timeout=10,
    )
    return result


async def test_pinned_versions_outlive_the_history_bound(
    nats_server: NatsFixture, secrets_kv: KeyValue, unique: str
) -> None:
    org = f"pin-{unique}"
    async with (
        running_stack(
            nats_server, services=("secrets", "renderer"), overrides={"secrets": {"history": 2}}
        ),
        bus_as(nats_server, "gateway") as gateway,
        bus_as(nats_server, "platform") as platform,
        bus_as(nats_server, "renderer") as renderer,
        bus_as(nats_server, "redactor") as redactor,
    ):
        client = SecretsClient(gateway)
        meta = await client.create(actor(org), "PINNED", f"{CANARY}-v1")
        first = await _render(platform, org, "d1")  # receipt pins version 1
        assert [(e.key, e.version) for e in first.receipt.secrets] == [("PINNED", 1)]
        await client.update(actor(org), meta.id, f"{CANARY}-v2")
        await _render(platform, org, "d2")  # a second deployment pins version 2
        # Both slots of the bound are pinned: the update still succeeds, and says so.
        full = await client.update(actor(org), meta.id, f"{CANARY}-v3")
        assert full.pinned_versions == [2, 1]
        assert full.history_full_of_pins is True
        for n in range(4, 9):
            reply = await client.update(actor(org), meta.id, f"{CANARY}-v{n}")
        assert reply.pinned_versions == [2, 1]
        detail = await client.get(actor(org), meta.id)
        # Unpinned versions obey the bound (2); pinned ones stay whatever their age.
        assert [v.version for v in detail.versions] == [8, 7, 2, 1]
        with pytest.raises(KeyNotFoundError):
            await secrets_kv.get(version_key(org, meta.id, 3))  # unpinned: evicted
        pin = PinnedVersion(key="PINNED", version=1)
        assert await _resolve(renderer, org, "PINNED", [pin]) == {"PINNED": f"{CANARY}-v1"}
        values = await SecretsClient(redactor).call(
            subjects.SECRET_REDACTION_VALUES,
            RedactionValuesRequest(organization_id=org, pinned=[pin]),
            RedactionValuesReply,
        )
        masked = {v.get_secret_value() for v in values.values}
        # The pin, the current value, and every kept version replaced within the last hour
        # (SIGIL_MASK_REPLACED_SECONDS); evicted v3-v6 are gone for everyone.
        assert masked == {f"{CANARY}-v{n}" for n in (1, 2, 7, 8)}

        # Forced cleanup: the pinned envelope is gone. A re-render must fail naming the
        # key and version, never fall back to the current value.
        await secrets_kv.delete(version_key(org, meta.id, 1))
        with pytest.raises(NotFoundError) as info:
            await _resolve(renderer, org, "PINNED", [pin])
        assert "PINNED" in info.value.message
        assert "version 1" in info.value.message
        assert info.value.details == {"key": "PINNED", "customerOrganizationId": None, "version": 1}
        assert CANARY not in info.value.message


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[NatsFixture]:
    """A server of its own: rotation re-wraps the whole bucket, which no other test shares."""
    fixture = start_nats(tmp_path / "nats")
    yield fixture
    fixture.server.stop()


async def test_key_rotation_keeps_the_store_open_until_the_rewrap_is_done(
    private_nats: NatsFixture,
) -> None:
    org = "rot"
    async with (
        running_stack(private_nats, services=("secrets",)),
        bus_as(private_nats, "gateway") as gateway,
    ):
        client = SecretsClient(gateway)
        meta = await client.create(actor(org), "ROTATE_ME", f"{CANARY}-r1")
        await client.update(actor(org), meta.id, f"{CANARY}-r2")
        await client.create(actor(org), "ALSO", f"{CANARY}-also")
    settings = SecretsSettings(
        kek_file=private_nats.data.kek_file,
        audit_key_file=private_nats.data.audit_key_file,
        **private_nats.creds("secrets"),
    )
    admin.add_key(private_nats.data.kek_file, "rotated-quick")
    report = await admin.rewrap_all(settings, progress=lambda done, total: None)
    # Two records, and versions 1 and 2 of the updated one: every envelope re-wrapped.
    assert (report.current_key, report.envelopes, report.rewrapped) == ("rotated-quick", 4, 4)
    assert await admin.keys_in_use(settings) == {"rotated-quick": 4}

    # A closed store refuses work (as a closed MongoDB client does), so using one after
    # close fails on the KV store as well and the test above would catch it.
    creds = private_nats.creds("secrets")
    nc = await nats.connect(
        creds["nats_url"],
        user="secrets",
        password=creds["nats_password"],
        inbox_prefix="_INBOX.secrets",
    )
    try:
        store = KvSecretStore(nc, nc.jetstream(), bucket=subjects.SECRETS_BUCKET)
        await store.setup()
        await store.close()
        with pytest.raises(StoreUnavailableError):
            await store.load_version(org, meta.id, 1)
    finally:
        await nc.close()


async def test_a_change_renderers_cannot_be_told_about_is_not_applied(
    client: SecretsClient, org: str, secrets_kv: KeyValue
) -> None:
    # A generation that cannot be raised (here: unreadable) must refuse the change: a
    # renderer would otherwise keep its cached value after the caller was told it changed.
    await secrets_kv.put(subjects.generation_key(org), b"not-a-number")
    with pytest.raises(UnavailableError) as info:
        await client.create(actor(org), "UNANNOUNCED", f"{CANARY}-unannounced")
    assert CANARY not in info.value.message
    assert (await client.list(actor(org))).items == []
    events = (await client.audit(actor(org))).items
    assert [(e.action, e.outcome.value, e.error_code) for e in events] == [
        ("create", "refused", "unavailable")
    ]
    await secrets_kv.put(subjects.generation_key(org), b"41")
    await client.create(actor(org), "UNANNOUNCED", f"{CANARY}-announced")  # the key was freed
    assert await _generation(secrets_kv, org) == 42


MONGO_URL = os.environ.get("SIGIL_TEST_MONGODB_URL")


@pytest.mark.mongodb
@pytest.mark.skipif(
    not MONGO_URL, reason="SIGIL_TEST_MONGODB_URL is not set (no MongoDB server on this machine)"
)
async def test_key_rotation_on_mongodb_rewraps_with_the_store_still_open(
    private_nats: NatsFixture,
) -> None:
    assert MONGO_URL is not None
    database = f"sigil_rot_{uuid4().hex[:8]}"
    settings = SecretsSettings(
        kek_file=private_nats.data.kek_file,
        audit_key_file=private_nats.data.audit_key_file,
        store="mongodb",
        mongodb_url=MONGO_URL,
        mongodb_database=database,
        **private_nats.creds("secrets"),
    )
    keyring = KeyringSource(path=private_nats.data.kek_file).get()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(MONGO_URL)
    store = MongoSecretStore(client, database=database)
    try:
        await store.setup()
        now = datetime.now(UTC)
        for i in range(3):
            key = f"MONGO_{i}"
            envelope = seal(keyring, f"{CANARY}-{i}", record_aad("rot", None, key, 1))
            await store.insert(
                SecretRecord(
                    id=uuid4().hex,
                    organization_id="rot",
                    customer_organization_id=None,
                    key=key,
                    version=1,
                    created_at=now,
                    created_by="u",
                    updated_at=now,
                    updated_by="u",
                    envelope=envelope,
                    versions=(VersionMeta(1, now, "u"),),
                )
            )
        admin.add_key(private_nats.data.kek_file, "rotated-mongo")
        report = await admin.rewrap_all(settings, progress=lambda done, total: None)
        # Each secret has its record and its version-1 document: all six re-wrapped.
        assert (report.current_key, report.envelopes, report.rewrapped) == ("rotated-mongo", 6, 6)
        assert await admin.keys_in_use(settings) == {"rotated-mongo": 6}
    finally:
        await client.drop_database(database)
        await client.close()
