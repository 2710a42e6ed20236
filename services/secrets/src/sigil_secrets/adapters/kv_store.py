"""KvSecretStore: secrets in a NATS JetStream KV bucket, laid out by organization.

Keys (all under ``o.<org>.`` so reading one organization never scans another):
``r.<id>`` record, ``k.<scope>.<KEY>`` uniqueness index -> id, ``e.<id>.<version>``
one version's envelope, ``t.<id>`` tombstone of a deleted record. ``<scope>`` is ``_``
for vendor level (customer ids cannot start with ``_``) or the customer organization id.

A new version is committed in two writes that can only be won once: the version's
envelope key is *created* (never overwritten), then the record is compare-and-set. Of two
racing updates only one creates ``e.<id>.<v>``; the other re-reads and tries ``v + 1``.
A writer that created its envelope but lost the record's compare-and-set deletes that
envelope by its own revision, so it can never remove anyone else's.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.errors import Error as JsError
from nats.js.kv import KeyValue

from sigil_secrets.adapters.codec import (
    envelope_from_doc,
    envelope_to_doc,
    record_from_doc,
    record_to_doc,
)
from sigil_secrets.adapters.kv_cache import RecordCache
from sigil_secrets.domain.model import Envelope, SecretRecord
from sigil_secrets.domain.record_index import ListScope, RecordIndex
from sigil_secrets.errors import KeyTakenError, StaleRevisionError, StoreUnavailableError
from sigil_shared.jetstream import scan_last_per_subject
from sigil_shared.subjects import kv_stream

_VENDOR = "_"


def _scope(scope: str | None) -> str:
    return scope or _VENDOR


def record_key(org: str, secret_id: str) -> str:
    """KV key of a live record."""
    return f"o.{org}.r.{secret_id}"


def index_key(org: str, scope: str | None, key: str) -> str:
    """KV key of the (org, scope, key) uniqueness index."""
    return f"o.{org}.k.{_scope(scope)}.{key}"


def version_key(org: str, secret_id: str, version: int) -> str:
    """KV key of one version's envelope."""
    return f"o.{org}.e.{secret_id}.{version}"


def tombstone_key(org: str, secret_id: str) -> str:
    """KV key of a deleted record kept for redaction."""
    return f"o.{org}.t.{secret_id}"


def _index_value(secret_id: str, floor: int) -> bytes:
    """``<id>``, ``<id>/<floor>`` or (released) ``/<floor>``: ids never contain a slash."""
    return (f"{secret_id}/{floor}" if floor else secret_id).encode()


def _parse_index(value: str) -> tuple[str, int]:
    """(owner id or "", last version the key has had)."""
    owner, _, floor = value.partition("/")
    return owner, int(floor) if floor.isdigit() else 0


def _wrong_last_sequence(err: Exception) -> bool:
    """nats-py reports a failed compare-and-delete as a plain BadRequestError (10071)."""
    return isinstance(err, KeyWrongLastSequenceError) or getattr(err, "err_code", None) == 10071


def _kind(key: str) -> str:
    """The entry kind of a key: ``r``, ``k``, ``e`` or ``t`` (third token)."""
    return key.split(".")[2]


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class KvSecretStore:
    """The SecretStore port on JetStream KV."""

    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        *,
        bucket: str,
        replicas: int = 1,
        orphan_age: timedelta = timedelta(seconds=30),
    ) -> None:
        self._nc = nc
        self._js = js
        self._bucket_name = bucket
        self._replicas = replicas
        # A version envelope whose record never moved on for this long was left by a writer
        # that died between its two writes (commands time out after seconds).
        self._orphan_age = orphan_age
        self._kv: KeyValue | None = None
        self._cache: RecordCache | None = None

    @property
    def kv(self) -> KeyValue:
        """The bucket, once set up."""
        if self._kv is None:
            raise StoreUnavailableError("secret store is not set up")
        return self._kv

    async def setup(self) -> None:
        """Bind to the bucket, creating it on first start."""
        try:
            try:
                self._kv = await self._js.key_value(self._bucket_name)
            except BucketNotFoundError:
                self._kv = await self._js.create_key_value(
                    KeyValueConfig(
                        bucket=self._bucket_name,
                        history=1,
                        storage=StorageType.FILE,
                        replicas=self._replicas,
                        description="Sigil secrets (encrypted values, metadata, indexes)",
                    )
                )
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store bucket is unavailable") from err
        await self._start_cache()

    async def _start_cache(self) -> None:
        """Serve organization-wide reads from a live in-memory copy (see kv_cache)."""
        cache = RecordCache(
            self._js,
            stream=kv_stream(self._bucket_name),
            subject_prefix=f"$KV.{self._bucket_name}.",
        )
        try:
            await cache.start()
        except (JsError, TimeoutError) as err:
            await cache.stop()
            raise StoreUnavailableError("secret store cache could not load") from err
        self._cache = cache

    async def close(self) -> None:
        """Stop the cache consumer; the store is unusable afterwards (like a closed client)."""
        if self._cache is not None:
            await self._cache.stop()
            self._cache = None
        self._kv = None

    def _remember(self, record: SecretRecord, revision: int) -> None:
        if self._cache is not None:
            self._cache.apply(record.organization_id, record.id, revision, record)

    def _forget_cached(self, record: SecretRecord) -> None:
        if self._cache is not None:
            self._cache.forget(record.organization_id, record.id)

    async def ping(self) -> None:
        """Raise unless the bucket answers."""
        try:
            await self.kv.status()
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store does not answer") from err

    async def _get(self, key: str) -> tuple[dict[str, Any], int] | None:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store does not answer") from err
        if entry.value is None or entry.revision is None:
            return None
        doc: dict[str, Any] = json.loads(entry.value)
        return doc, entry.revision

    async def _watch(self, pattern: str) -> list[tuple[str, int, bytes]]:
        """Current value of every key matching ``pattern`` (deleted keys left out)."""
        prefix = f"$KV.{self._bucket_name}."
        try:
            entries = await scan_last_per_subject(
                self._nc, self._js, kv_stream(self._bucket_name), prefix + pattern
            )
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store listing failed") from err
        return [(subject.removeprefix(prefix), seq, data) for subject, seq, data in entries if data]

    async def claim(self, organization_id: str, scope: str | None, key: str, secret_id: str) -> int:
        """Claim (scope, key) for a new secret atomically; its first version number.

        The index holds ``<id>`` (or ``<id>/<floor>``) while a secret owns the key and
        ``/<floor>`` once it is deleted, ``floor`` being the last version the key has had:
        a re-created secret continues from there, so (key, scope, version) never names two
        values and a revision pinned to the deleted secret cannot pick up the new one.
        """
        idx = index_key(organization_id, scope, key)
        try:
            if await self._create(idx, secret_id.encode()):
                return 1
            try:
                held = await self._js.get_last_msg(
                    kv_stream(self._bucket_name), f"$KV.{self._bucket_name}.{idx}"
                )
            except NotFoundError as err:
                raise KeyTakenError("key is being claimed concurrently") from err
            if (held.headers or {}).get("KV-Operation") in ("DEL", "PURGE") or held.seq is None:
                raise KeyTakenError("key is being claimed concurrently")
            owner, floor = _parse_index((held.data or b"").decode())
            if owner:
                if await self._get(record_key(organization_id, owner)) is not None:
                    raise KeyTakenError("key exists")
                # No record yet: a create in flight (it writes its record right after its
                # claim), or one that died half-way, whose claim is reusable once old.
                written = held.time or datetime.now(UTC)
                if datetime.now(UTC) - written < self._orphan_age:
                    raise KeyTakenError("key is being created concurrently")
            try:
                await self.kv.update(idx, _index_value(secret_id, floor), last=held.seq)
            except KeyWrongLastSequenceError as err:
                raise KeyTakenError("key exists") from err
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store does not answer") from err
        return floor + 1

    async def _release(self, record: SecretRecord, floor: int) -> None:
        """Free the index of a record that is gone, keeping the key's last version."""
        idx = index_key(record.organization_id, record.customer_organization_id, record.key)
        if floor <= 0:
            await self._forget(idx)
            return
        try:
            await self.kv.put(idx, _index_value("", floor))
        except (JsError, TimeoutError):
            return  # best effort, like _forget: the next create takes the index over

    async def insert(self, record: SecretRecord) -> int:
        """Write the record of a claimed key (it holds its first version's envelope)."""
        org = record.organization_id
        # The first version's envelope lives in the record alone until a second version
        # archives it (one write fewer per create; a first version is committed once).
        try:
            revision = await self._create(record_key(org, record.id), _dump(record_to_doc(record)))
        except (JsError, TimeoutError) as err:
            await self._release(record, record.version - 1)
            raise StoreUnavailableError("secret store does not answer") from err
        if revision is None:
            await self._release(record, record.version - 1)
            raise KeyTakenError("record id exists")
        self._remember(record, revision)
        return revision

    async def _create(self, key: str, value: bytes) -> int | None:
        """Atomic create that also succeeds over a deleted key; None if the key is live."""
        try:
            return await self.kv.create(key, value)
        except KeyWrongLastSequenceError:
            pass
        try:
            last = await self._js.get_last_msg(
                kv_stream(self._bucket_name), f"$KV.{self._bucket_name}.{key}"
            )
        except NotFoundError:
            return None
        if (last.headers or {}).get("KV-Operation") not in ("DEL", "PURGE"):
            return None
        try:
            return await self.kv.update(key, value, last=last.seq)
        except KeyWrongLastSequenceError:
            return None

    async def _forget(self, key: str) -> None:
        try:
            await self.kv.delete(key)
        except (JsError, TimeoutError):
            return  # best effort; a dangling index is taken over by the next create

    async def load(
        self, organization_id: str, secret_id: str, *, cached: bool = False
    ) -> tuple[SecretRecord, int] | None:
        """A live record of this organization and its revision.

        ``cached`` answers from this replica's copy when it knows the record (saving a
        round trip before a compare-and-set, which catches a stale copy anyway).
        """
        if cached and self._cache is not None:
            known = self._cache.get(organization_id, secret_id)
            if known is not None:
                return known
        found = await self._get(record_key(organization_id, secret_id))
        if found is None:
            return None
        doc, revision = found
        return record_from_doc(doc), revision

    async def load_all(self, organization_id: str) -> list[SecretRecord]:
        """Every live record of one organization, in one ordered read."""
        if self._cache is not None:
            return self._cache.records(organization_id)
        entries = await self._watch(f"o.{organization_id}.r.*")
        return [record_from_doc(json.loads(value)) for _, _, value in entries]

    async def sync(self) -> None:
        """Wait until this replica's copy holds every record change stored so far."""
        if self._cache is None:
            return
        try:
            await self._cache.sync()
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store copy could not catch up") from err

    async def _uncached_index(self, organization_id: str) -> RecordIndex:
        index = RecordIndex()
        for revision, record in enumerate(await self.load_all(organization_id), start=1):
            index.apply(organization_id, record.id, revision, record)
        return index

    async def page(
        self,
        organization_id: str,
        where: ListScope,
        *,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[SecretRecord]:
        """Up to ``limit`` records after ``after`` in listing order, from the sorted index."""
        if self._cache is not None:
            return self._cache.page(organization_id, where, after=after, limit=limit)
        index = await self._uncached_index(organization_id)
        return index.page(organization_id, where, after=after, limit=limit)

    async def find(self, organization_id: str, scope: str | None, key: str) -> SecretRecord | None:
        """The live record of (scope, key)."""
        if self._cache is not None:
            return self._cache.find(organization_id, scope, key)
        return (await self._uncached_index(organization_id)).find(organization_id, scope, key)

    async def commit_version(
        self, record: SecretRecord, *, previous: SecretRecord, expected_revision: int
    ) -> int:
        """Create the new version's envelope key, then compare-and-set the record.

        StaleRevisionError when another writer got there first; nothing of theirs is
        touched, and this call's own envelope is removed by its revision. Version 1, kept
        only in the record so far, is archived (create-only) on the way.
        """
        org = record.organization_id
        slot = version_key(org, record.id, record.version)
        try:
            if previous.updated_at == previous.created_at:  # still its first version
                claimed, archived = await asyncio.gather(
                    self._claim_slot(slot, record, expected_revision),
                    self._archive_first(previous),
                    return_exceptions=True,
                )
                if isinstance(claimed, BaseException):
                    raise claimed
                if isinstance(archived, BaseException):
                    await self._delete_own(slot, claimed)
                    raise archived
                slot_revision = claimed
            else:
                slot_revision = await self._claim_slot(slot, record, expected_revision)
            try:
                revision = await self.kv.update(
                    record_key(org, record.id),
                    _dump(record_to_doc(record)),
                    last=expected_revision,
                )
            except KeyWrongLastSequenceError as err:
                await self._delete_own(slot, slot_revision)
                raise StaleRevisionError("record changed") from err
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store does not answer") from err
        self._remember(record, revision)
        return revision

    async def _archive_first(self, first: SecretRecord) -> None:
        """Keep a first version's envelope under its version key (already there is fine: a
        first version is committed once, so any copy holds the same value)."""
        key = version_key(first.organization_id, first.id, first.version)
        try:
            await self.kv.create(key, _dump(envelope_to_doc(first.envelope)))
        except KeyWrongLastSequenceError:
            return

    async def _claim_slot(self, slot: str, record: SecretRecord, expected_revision: int) -> int:
        """Create the envelope key of a new version; StaleRevisionError if it is taken."""
        envelope = _dump(envelope_to_doc(record.envelope))
        try:
            return await self.kv.create(slot, envelope)
        except KeyWrongLastSequenceError:
            pass
        # Taken: by a racing writer (which wins or cleans up after itself), or left by a
        # writer that died between its two writes. Only the latter may be taken over, and
        # only by compare-and-set on the slot's own revision.
        current = await self._get(record_key(record.organization_id, record.id))
        if current is None or current[1] != expected_revision:
            raise StaleRevisionError("record changed")
        try:
            held = await self._js.get_last_msg(
                kv_stream(self._bucket_name), f"$KV.{self._bucket_name}.{slot}"
            )
        except NotFoundError as err:
            raise StaleRevisionError("version slot changed; retry") from err
        written = held.time or datetime.now(UTC)
        if datetime.now(UTC) - written < self._orphan_age or held.seq is None:
            raise StaleRevisionError("version is being written concurrently")
        try:
            return await self.kv.update(slot, envelope, last=held.seq)
        except KeyWrongLastSequenceError as err:
            raise StaleRevisionError("version slot changed; retry") from err

    async def _delete_own(self, key: str, revision: int) -> None:
        """Delete ``key`` only if it is still at ``revision`` (the write this call made)."""
        try:
            await self.kv.delete(key, last=revision)
        except (KeyWrongLastSequenceError, BadRequestError) as err:
            if not _wrong_last_sequence(err):
                raise
        except (JsError, TimeoutError):
            return  # best effort: an orphan is taken over once it is old enough

    async def revert_version(
        self, previous: SecretRecord, *, updated: SecretRecord, revision: int
    ) -> int:
        """Undo ``commit_version`` (audit compensation): the record back, the envelope gone."""
        org = previous.organization_id
        try:
            restored = await self.kv.update(
                record_key(org, previous.id), _dump(record_to_doc(previous)), last=revision
            )
        except KeyWrongLastSequenceError as err:
            raise StaleRevisionError("record changed") from err
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store does not answer") from err
        self._remember(previous, restored)
        # Nobody else can hold this version: its slot stays taken until this delete.
        await self._forget(version_key(org, updated.id, updated.version))
        return restored

    async def replace(self, record: SecretRecord, *, expected_revision: int) -> int:
        """Compare-and-set the record."""
        try:
            revision = await self.kv.update(
                record_key(record.organization_id, record.id),
                _dump(record_to_doc(record)),
                last=expected_revision,
            )
        except KeyWrongLastSequenceError as err:
            raise StaleRevisionError("record changed") from err
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store does not answer") from err
        self._remember(record, revision)
        return revision

    async def remove(self, record: SecretRecord, *, expected_revision: int) -> None:
        """Tombstone first (so redaction keeps working), then delete record and index."""
        org = record.organization_id
        tomb = tombstone_key(org, record.id)
        try:
            await self.kv.put(tomb, _dump(record_to_doc(record)))
            try:
                await self.kv.delete(record_key(org, record.id), last=expected_revision)
                self._forget_cached(record)
            except (KeyWrongLastSequenceError, BadRequestError) as err:
                if not _wrong_last_sequence(err):
                    raise
                await self._forget(tomb)
                raise StaleRevisionError("record changed") from err
            await self._release(record, record.version)
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store does not answer") from err

    async def restore(self, record: SecretRecord) -> None:
        """Bring a removed record back (audit compensation)."""
        org = record.organization_id
        live = record_to_doc(record) | {"deletedAt": None, "deletedBy": None}
        try:
            revision = await self._create(record_key(org, record.id), _dump(live))
            if revision is None:
                raise StaleRevisionError("record was re-created meanwhile")
            self._remember(record_from_doc(live), revision)
            await self.kv.put(
                index_key(org, record.customer_organization_id, record.key), record.id.encode()
            )
        except (JsError, TimeoutError) as err:
            raise StoreUnavailableError("secret store does not answer") from err
        await self._forget(tombstone_key(org, record.id))

    async def discard(self, record: SecretRecord) -> None:
        """Remove every trace of a record that was never audited (compensation)."""
        org = record.organization_id
        await self._forget(record_key(org, record.id))
        self._forget_cached(record)
        first = min((v.version for v in record.versions), default=record.version)
        versions = record.kept_versions() | {record.version}
        if record.updated_at == record.created_at:
            # A first version's envelope lives in the record alone: deleting its version
            # key would only write a marker naming a version never stored there.
            versions.discard(record.version)
        await asyncio.gather(
            self._release(record, first - 1),
            *(self._forget(version_key(org, record.id, version)) for version in versions),
        )

    async def load_version(
        self, organization_id: str, secret_id: str, version: int
    ) -> Envelope | None:
        """One kept version's envelope."""
        found = await self._get(version_key(organization_id, secret_id, version))
        return envelope_from_doc(found[0]) if found else None

    async def drop_versions(self, record: SecretRecord, versions: set[int]) -> None:
        """Forget envelopes beyond the history bound."""
        await asyncio.gather(
            *(self._forget(version_key(record.organization_id, record.id, v)) for v in versions)
        )

    async def tombstones(self, organization_id: str) -> list[SecretRecord]:
        """Deleted records of one organization still kept for redaction."""
        entries = await self._watch(f"o.{organization_id}.t.*")
        return [record_from_doc(json.loads(value)) for _, _, value in entries]

    async def envelopes(self) -> AsyncIterator[tuple[str, Envelope]]:
        """Every envelope (versions, records, tombstones) with ``key@revision``."""
        for pattern in ("o.*.e.>", "o.*.r.*", "o.*.t.*"):
            for key, revision, value in await self._watch(pattern):
                doc = json.loads(value)
                envelope_doc = doc if _kind(key) == "e" else doc["envelope"]
                yield f"{key}@{revision}", envelope_from_doc(envelope_doc)

    async def rewrap_at(self, location: str, old: Envelope, new: Envelope) -> bool:
        """Swap in the re-wrapped envelope unless the entry changed meanwhile."""
        del old
        key, _, rev = location.rpartition("@")
        found = await self._get(key)
        if found is None or found[1] != int(rev):
            return False
        doc, revision = found
        if _kind(key) == "e":
            doc = envelope_to_doc(new)
        else:
            doc["envelope"] = envelope_to_doc(new)
        try:
            await self.kv.update(key, _dump(doc), last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True
