"""One contract suite for every SecretStore adapter: JetStream KV here, MongoDB when available.

MongoDB cannot be installed on the development machine; set SIGIL_TEST_MONGODB_URL (a
replica set) to run the same tests against it. A fake would not test the adapter.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import nats
import pytest

from sigil_secrets.adapters.kv_store import KvSecretStore
from sigil_secrets.adapters.mongo_store import MongoSecretStore
from sigil_secrets.domain.model import Envelope, SecretRecord, VersionMeta
from sigil_secrets.domain.record_index import ListScope
from sigil_secrets.errors import KeyTakenError, StaleRevisionError
from sigil_secrets.ports import SecretStore
from tests.helpers import NatsFixture

NOW = datetime(2026, 11, 1, tzinfo=UTC)
MONGO_URL = os.environ.get("SIGIL_TEST_MONGODB_URL")


def _envelope(kek: str = "k1", tag: bytes = b"x") -> Envelope:
    return Envelope(kek, b"wrapped" + tag, b"kn" * 6, b"n" * 12, b"ciphertext" + tag)


def _record(org: str, key: str = "API_KEY", scope: str | None = None) -> SecretRecord:
    return SecretRecord(
        id=uuid.uuid4().hex,
        organization_id=org,
        customer_organization_id=scope,
        key=key,
        version=1,
        created_at=NOW,
        created_by="alice",
        updated_at=NOW,
        updated_by="alice",
        envelope=_envelope(),
        versions=(VersionMeta(1, NOW, "alice"),),
    )


@pytest.fixture(params=["jetstream", "mongodb"])
async def store(
    request: pytest.FixtureRequest, nats_server: NatsFixture
) -> AsyncIterator[SecretStore]:
    if request.param == "mongodb":
        if not MONGO_URL:
            pytest.skip("SIGIL_TEST_MONGODB_URL is not set (no MongoDB server on this machine)")
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(MONGO_URL)
        mongo = MongoSecretStore(client, database=f"sigil_test_{uuid.uuid4().hex[:8]}")
        await mongo.setup()
        yield mongo
        await client.drop_database(mongo._db.name)
        await mongo.close()
        return
    creds = nats_server.creds("secrets")
    nc = await nats.connect(
        creds["nats_url"],
        user="secrets",
        password=creds["nats_password"],
        inbox_prefix="_INBOX.secrets",
    )
    kv = KvSecretStore(nc, nc.jetstream(), bucket="sigil-secrets")
    await kv.setup()
    yield kv
    await kv.close()
    await nc.close()


async def _insert(store: SecretStore, record: SecretRecord) -> int:
    """A create as the service makes it: claim the key, then write the record."""
    first = await store.claim(
        record.organization_id, record.customer_organization_id, record.key, record.id
    )
    assert first == record.version
    return await store.insert(record)


async def test_a_recreated_key_continues_the_deleted_secrets_versions(
    store: SecretStore, unique: str
) -> None:
    org = f"a-{unique}"
    first = _record(org)
    revision = await _insert(store, first)
    third = _next(_next(first, b"2"), b"3")
    second = _next(first, b"2")
    revision = await store.commit_version(second, previous=first, expected_revision=revision)
    revision = await store.commit_version(third, previous=second, expected_revision=revision)
    await store.remove(replace(third, deleted_at=NOW, deleted_by="bob"), expected_revision=revision)
    # Versions of a key never repeat: a pin on (API_KEY, vendor, 1..3) can only mean the
    # deleted secret, whose tombstone keeps them.
    fresh_id = uuid.uuid4().hex
    assert await store.claim(org, None, "API_KEY", fresh_id) == 4
    recreated = replace(
        _record(org), id=fresh_id, version=4, versions=(VersionMeta(4, NOW, "alice"),)
    )
    await store.insert(recreated)
    found = await store.find(org, None, "API_KEY")
    assert found is not None
    assert (found.id, found.version) == (fresh_id, 4)
    with pytest.raises(KeyTakenError):
        await store.claim(org, None, "API_KEY", uuid.uuid4().hex)


async def test_racing_creates_of_one_key_leave_exactly_one_record(
    store: SecretStore, unique: str
) -> None:
    org = f"a-{unique}"
    records = [_record(org) for _ in range(12)]
    results = await asyncio.gather(*(_insert(store, r) for r in records), return_exceptions=True)
    assert len([r for r in results if isinstance(r, int)]) == 1
    assert all(isinstance(r, KeyTakenError) for r in results if not isinstance(r, int))
    assert len(await store.page(org, ListScope(every=True), after=None, limit=20)) == 1


async def test_insert_then_load_by_organization_and_id(store: SecretStore, unique: str) -> None:
    record = _record(f"a-{unique}")
    await _insert(store, record)
    loaded = await store.load(record.organization_id, record.id)
    assert loaded is not None
    assert loaded[0] == record
    assert await store.load(f"b-{unique}", record.id) is None


async def test_key_is_unique_per_scope(store: SecretStore, unique: str) -> None:
    org = f"a-{unique}"
    await _insert(store, _record(org))
    with pytest.raises(KeyTakenError):
        await _insert(store, _record(org))
    await _insert(store, _record(org, scope="c1"))
    await _insert(store, _record(org, key="api_key"))
    assert len(await store.load_all(org)) == 3
    assert await store.load_all(f"other-{unique}") == []


async def test_replace_is_compare_and_set(store: SecretStore, unique: str) -> None:
    record = _record(f"a-{unique}")
    revision = await _insert(store, record)
    newer = replace(record, version=2, envelope=_envelope(tag=b"2"))
    new_revision = await store.replace(newer, expected_revision=revision)
    with pytest.raises(StaleRevisionError):
        await store.replace(replace(record, version=3), expected_revision=revision)
    loaded = await store.load(record.organization_id, record.id)
    assert loaded == (newer, new_revision)


async def test_remove_keeps_a_tombstone_and_restore_undoes_it(
    store: SecretStore, unique: str
) -> None:
    record = _record(f"a-{unique}")
    revision = await _insert(store, record)
    with pytest.raises(StaleRevisionError):
        await store.remove(record, expected_revision=revision + 100)
    tomb = replace(record, deleted_at=NOW, deleted_by="bob")
    await store.remove(tomb, expected_revision=revision)
    assert await store.load(record.organization_id, record.id) is None
    assert [t.id for t in await store.tombstones(record.organization_id)] == [record.id]
    # The key is free again, and continues after the deleted secret's last version.
    assert await store.claim(record.organization_id, None, "API_KEY", uuid.uuid4().hex) == 2
    fresh_org = f"b-{unique}"
    other = _record(fresh_org)
    other_rev = await _insert(store, other)
    await store.remove(other, expected_revision=other_rev)
    await store.restore(other)
    loaded = await store.load(fresh_org, other.id)
    assert loaded is not None
    assert loaded[0].deleted_at is None
    assert await store.tombstones(fresh_org) == []


async def test_discard_removes_every_trace(store: SecretStore, unique: str) -> None:
    record = _record(f"a-{unique}")
    await _insert(store, record)
    await store.discard(record)
    assert await store.load(record.organization_id, record.id) is None
    assert await store.load_version(record.organization_id, record.id, 1) is None
    await _insert(store, _record(record.organization_id))


def _next(record: SecretRecord, tag: bytes) -> SecretRecord:
    version = record.version + 1
    return replace(
        record,
        version=version,
        envelope=_envelope(tag=tag),
        versions=(VersionMeta(version, NOW, "bob"), *record.versions),
    )


async def test_versions_are_kept_and_dropped(store: SecretStore, unique: str) -> None:
    record = _record(f"a-{unique}")
    revision = await _insert(store, record)
    second = _next(record, b"v2")
    await store.commit_version(second, previous=record, expected_revision=revision)
    # Version 1 is kept once it stops being current (the KV store archives it then).
    assert await store.load_version(record.organization_id, record.id, 1) == record.envelope
    assert await store.load_version(record.organization_id, record.id, 2) == _envelope(tag=b"v2")
    assert await store.load_version("elsewhere", record.id, 2) is None
    await store.drop_versions(second, {1})
    assert await store.load_version(record.organization_id, record.id, 1) is None


async def test_racing_version_commits_never_touch_the_winners_envelope(
    store: SecretStore, unique: str
) -> None:
    record = _record(f"a-{unique}")
    revision = await _insert(store, record)
    # Twelve writers read the same revision and race for version 2: exactly one wins.
    writers = [_next(record, f"w{i}".encode()) for i in range(12)]
    results = await asyncio.gather(
        *(store.commit_version(w, previous=record, expected_revision=revision) for w in writers),
        return_exceptions=True,
    )
    winners = [w for w, r in zip(writers, results, strict=True) if isinstance(r, int)]
    assert len(winners) == 1
    assert all(isinstance(r, StaleRevisionError) for r in results if not isinstance(r, int))
    stored = await store.load_version(record.organization_id, record.id, 2)
    assert stored == winners[0].envelope
    loaded = await store.load(record.organization_id, record.id)
    assert loaded is not None
    assert loaded[0].envelope == winners[0].envelope


async def test_a_writer_that_loses_the_record_race_removes_only_its_own_envelope(
    store: SecretStore, unique: str
) -> None:
    record = _record(f"a-{unique}")
    revision = await _insert(store, record)
    # Someone else changes the record in between (e.g. a re-wrap): the commit is stale.
    rewrapped = replace(record, updated_by="rotation")
    moved = await store.replace(rewrapped, expected_revision=revision)
    with pytest.raises(StaleRevisionError):
        await store.commit_version(
            _next(record, b"late"), previous=record, expected_revision=revision
        )
    assert await store.load_version(record.organization_id, record.id, 2) is None
    # The slot is free again for a writer holding the current revision.
    fresh = replace(_next(record, b"fresh"), updated_by="rotation")
    await store.commit_version(fresh, previous=rewrapped, expected_revision=moved)
    assert await store.load_version(record.organization_id, record.id, 2) == fresh.envelope


async def test_revert_version_restores_the_record_and_frees_the_slot(
    store: SecretStore, unique: str
) -> None:
    record = _record(f"a-{unique}")
    revision = await _insert(store, record)
    second = _next(record, b"unaudited")
    new_revision = await store.commit_version(second, previous=record, expected_revision=revision)
    back = await store.revert_version(record, updated=second, revision=new_revision)
    assert await store.load(record.organization_id, record.id) == (record, back)
    assert await store.load_version(record.organization_id, record.id, 2) is None
    again = _next(record, b"again")
    await store.commit_version(again, previous=record, expected_revision=back)
    assert await store.load_version(record.organization_id, record.id, 2) == again.envelope


async def test_pages_and_finds_by_scope_and_key(store: SecretStore, unique: str) -> None:
    org = f"a-{unique}"
    for key, scope in [("B", None), ("A", "c2"), ("A", None), ("A", "c1"), ("C", "c1")]:
        await _insert(store, _record(org, key=key, scope=scope))
    every = await store.page(org, ListScope(every=True), after=None, limit=10)
    assert [(r.key, r.customer_organization_id) for r in every] == [
        ("A", None),
        ("A", "c1"),
        ("A", "c2"),
        ("B", None),
        ("C", "c1"),
    ]
    rest = await store.page(org, ListScope(every=True), after=("A", "c1"), limit=2)
    assert [(r.key, r.customer_organization_id) for r in rest] == [("A", "c2"), ("B", None)]
    c1 = await store.page(org, ListScope(every=False, scope="c1"), after=("A", ""), limit=10)
    assert [r.key for r in c1] == ["A", "C"]
    vendor = await store.page(org, ListScope(every=False, scope=None), after=None, limit=10)
    assert [r.key for r in vendor] == ["A", "B"]
    found = await store.find(org, "c2", "A")
    assert found is not None
    assert found.customer_organization_id == "c2"
    assert await store.find(org, "c2", "B") is None
    assert await store.page(f"other-{unique}", ListScope(every=True), after=None, limit=10) == []


async def test_rewrap_swaps_envelopes_only_when_unchanged(store: SecretStore, unique: str) -> None:
    record = _record(f"a-{unique}")
    await _insert(store, record)
    mine = [(loc, env) async for loc, env in store.envelopes() if env == record.envelope]
    assert mine  # the record's current envelope (and version 1 where stored separately)
    location, old = mine[0]
    assert await store.rewrap_at(location, old, _envelope(kek="k2")) is True
    assert await store.rewrap_at(location, old, _envelope(kek="k3")) is False
