"""MongoSecretStore: secrets in MongoDB through PyMongo's async API (not Motor).

Collections: ``secrets`` (live records, unique on organization + scope + key),
``secret_versions`` (one envelope per kept version) and ``secret_tombstones``. Every
write uses majority write concern; optimistic concurrency uses a ``rev`` counter.

A new version is committed like on the KV store: its version document is *inserted*
(the ``_id`` names the version, so only one writer can insert it), then the record is
compare-and-set on ``rev``. A writer that loses the record's compare-and-set deletes its
version document by its own write token, never anyone else's.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from sigil_secrets.adapters.codec import (
    envelope_from_doc,
    envelope_to_doc,
    record_from_doc,
    record_to_doc,
)
from sigil_secrets.domain.model import Envelope, SecretRecord
from sigil_secrets.domain.record_index import ListScope, scope_token
from sigil_secrets.errors import KeyTakenError, StaleRevisionError, StoreUnavailableError

Doc = dict[str, Any]
_MAJORITY = WriteConcern(w="majority")


def _version_id(org: str, secret_id: str, version: int) -> str:
    return f"{org}:{secret_id}:{version}"


class MongoSecretStore:
    """The SecretStore port on MongoDB."""

    def __init__(
        self,
        client: AsyncMongoClient[Doc],
        *,
        database: str,
        orphan_age: timedelta = timedelta(seconds=30),
    ) -> None:
        db = client.get_database(database, write_concern=_MAJORITY)
        self._client = client
        self._orphan_age = orphan_age
        self._db = db
        self._records: AsyncCollection[Doc] = db["secrets"]
        self._versions: AsyncCollection[Doc] = db["secret_versions"]
        self._tombs: AsyncCollection[Doc] = db["secret_tombstones"]

    async def setup(self) -> None:
        """Create the indexes (idempotent)."""
        try:
            await self._records.create_index(
                [("org", ASCENDING), ("scope", ASCENDING), ("key", ASCENDING)],
                unique=True,
                name="org_scope_key_unique",
            )
            await self._records.create_index([("org", ASCENDING), ("key", ASCENDING)])
            await self._tombs.create_index([("org", ASCENDING)])
            await self._tombs.create_index(
                [
                    ("org", ASCENDING),
                    ("scope", ASCENDING),
                    ("key", ASCENDING),
                    ("version", ASCENDING),
                ]
            )
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) is unavailable") from err

    async def close(self) -> None:
        """Close the client."""
        await self._client.close()

    async def ping(self) -> None:
        """Raise unless MongoDB answers."""
        try:
            await self._db.command("ping")
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err

    @staticmethod
    def _to_mongo(record: SecretRecord, rev: int) -> Doc:
        return record_to_doc(record) | {"_id": record.id, "rev": rev}

    def _version_doc(self, record: SecretRecord, token: str) -> Doc:
        return {
            "_id": _version_id(record.organization_id, record.id, record.version),
            "org": record.organization_id,
            "sid": record.id,
            "v": record.version,
            "envelope": envelope_to_doc(record.envelope),
            "w": token,
            "at": datetime.now(UTC),
        }

    async def claim(self, organization_id: str, scope: str | None, key: str, secret_id: str) -> int:
        """The first version of a new secret for (scope, key): one past the last version a
        deleted secret of that key had, so (key, scope, version) never names two values.

        The unique index, not this read, decides a race: ``insert`` refuses the loser.
        """
        del secret_id
        where = {"org": organization_id, "scope": scope, "key": key}
        try:
            if await self._records.find_one(where, {"_id": 1}) is not None:
                raise KeyTakenError("key exists")
            last = await self._tombs.find_one(where, {"version": 1}, sort=[("version", -1)])
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err
        return int(last["version"]) + 1 if last else 1

    async def insert(self, record: SecretRecord) -> int:
        """Insert the first version and the record together; the unique index refuses a
        duplicate key in scope."""
        results = await asyncio.gather(
            self._versions.insert_one(self._version_doc(record, uuid.uuid4().hex)),
            self._records.insert_one(self._to_mongo(record, 1)),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if not errors:
            return 1
        for err in errors:
            if not isinstance(err, PyMongoError):
                raise err
        if not isinstance(results[1], BaseException):
            await self.discard(record)
        else:
            await self._versions.delete_many({"org": record.organization_id, "sid": record.id})
        if isinstance(results[1], DuplicateKeyError):
            raise KeyTakenError("key exists") from results[1]
        raise StoreUnavailableError("secret store (MongoDB) does not answer") from errors[0]

    async def load(
        self, organization_id: str, secret_id: str, *, cached: bool = False
    ) -> tuple[SecretRecord, int] | None:
        """A live record of this organization (queried by organization and id together)."""
        del cached  # MongoDB has no replica-local copy; every read asks the server
        try:
            doc = await self._records.find_one({"_id": secret_id, "org": organization_id})
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err
        return (record_from_doc(doc), int(doc["rev"])) if doc else None

    async def load_all(self, organization_id: str) -> list[SecretRecord]:
        """Every live record of one organization."""
        try:
            return [record_from_doc(d) async for d in self._records.find({"org": organization_id})]
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err

    async def sync(self) -> None:
        """Nothing to catch up: every read asks the server (majority writes)."""

    async def find(self, organization_id: str, scope: str | None, key: str) -> SecretRecord | None:
        """The live record of (scope, key), by the unique index."""
        try:
            doc = await self._records.find_one({"org": organization_id, "scope": scope, "key": key})
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err
        return record_from_doc(doc) if doc else None

    async def page(
        self,
        organization_id: str,
        where: ListScope,
        *,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[SecretRecord]:
        """Up to ``limit`` records after ``after`` in listing order, by index range."""
        query: Doc = {"org": organization_id}
        order = [("key", ASCENDING), ("scope", ASCENDING)]
        if where.every:
            if after is not None:
                # null (vendor level) sorts before any string, as "" does in the cursor.
                query["$or"] = [
                    {"key": {"$gt": after[0]}},
                    {"key": after[0], "scope": {"$gt": after[1]}},
                ]
        else:
            query["scope"] = where.scope
            if after is not None:
                past = after[1] >= scope_token(where.scope)
                query["key"] = {"$gt" if past else "$gte": after[0]}
        try:
            cursor = self._records.find(query).sort(order).limit(limit)
            return [record_from_doc(d) async for d in cursor]
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err

    async def commit_version(
        self, record: SecretRecord, *, previous: SecretRecord, expected_revision: int
    ) -> int:
        """Insert the new version's document, then compare-and-set the record on ``rev``."""
        del previous  # every version, the first included, has its document from the start
        token = uuid.uuid4().hex
        version = self._version_doc(record, token)
        try:
            await self._claim_version(version, record, expected_revision)
            doc = await self._records.find_one_and_replace(
                {"_id": record.id, "org": record.organization_id, "rev": expected_revision},
                self._to_mongo(record, expected_revision + 1),
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                await self._versions.delete_one({"_id": version["_id"], "w": token})
                raise StaleRevisionError("record changed")
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err
        return int(doc["rev"])

    async def _claim_version(self, version: Doc, record: SecretRecord, expected: int) -> None:
        try:
            await self._versions.insert_one(version)
            return
        except DuplicateKeyError:
            pass
        # Taken by a racing writer, or left by one that died between its two writes: only
        # an old leftover on an unchanged record is taken over, by its own write token.
        current = await self._records.find_one(
            {"_id": record.id, "org": record.organization_id}, {"rev": 1}
        )
        if current is None or int(current["rev"]) != expected:
            raise StaleRevisionError("record changed")
        held = await self._versions.find_one({"_id": version["_id"]})
        if held is None:
            raise StaleRevisionError("version slot changed; retry")
        at = held.get("at")
        written = at.replace(tzinfo=UTC) if isinstance(at, datetime) and at.tzinfo is None else at
        if isinstance(written, datetime) and datetime.now(UTC) - written < self._orphan_age:
            raise StaleRevisionError("version is being written concurrently")
        result = await self._versions.replace_one(
            {"_id": version["_id"], "w": held.get("w")}, version
        )
        if result.modified_count != 1:
            raise StaleRevisionError("version slot changed; retry")

    async def revert_version(
        self, previous: SecretRecord, *, updated: SecretRecord, revision: int
    ) -> int:
        """Undo ``commit_version`` (audit compensation)."""
        try:
            doc = await self._records.find_one_and_replace(
                {"_id": previous.id, "org": previous.organization_id, "rev": revision},
                self._to_mongo(previous, revision + 1),
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                raise StaleRevisionError("record changed")
            await self._versions.delete_one(
                {"_id": _version_id(updated.organization_id, updated.id, updated.version)}
            )
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err
        return int(doc["rev"])

    async def replace(self, record: SecretRecord, *, expected_revision: int) -> int:
        """Compare-and-set on ``rev``."""
        try:
            doc = await self._records.find_one_and_replace(
                {"_id": record.id, "org": record.organization_id, "rev": expected_revision},
                self._to_mongo(record, expected_revision + 1),
                return_document=ReturnDocument.AFTER,
            )
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err
        if doc is None:
            raise StaleRevisionError("record changed")
        return int(doc["rev"])

    async def remove(self, record: SecretRecord, *, expected_revision: int) -> None:
        """Tombstone, then delete the live record if unchanged."""
        try:
            await self._tombs.replace_one(
                {"_id": record.id}, self._to_mongo(record, expected_revision), upsert=True
            )
            result = await self._records.delete_one(
                {"_id": record.id, "org": record.organization_id, "rev": expected_revision}
            )
            if result.deleted_count != 1:
                await self._tombs.delete_one({"_id": record.id})
                raise StaleRevisionError("record changed")
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err

    async def restore(self, record: SecretRecord) -> None:
        """Undo ``remove``."""
        live = record_to_doc(record) | {"deletedAt": None, "deletedBy": None}
        try:
            await self._records.insert_one(live | {"_id": record.id, "rev": 1})
            await self._tombs.delete_one({"_id": record.id})
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err

    async def discard(self, record: SecretRecord) -> None:
        """Undo ``insert``."""
        try:
            await self._records.delete_one({"_id": record.id, "org": record.organization_id})
            await self._versions.delete_many({"org": record.organization_id, "sid": record.id})
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err

    async def load_version(
        self, organization_id: str, secret_id: str, version: int
    ) -> Envelope | None:
        """One kept version's envelope."""
        try:
            doc = await self._versions.find_one(
                {"_id": _version_id(organization_id, secret_id, version), "org": organization_id}
            )
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err
        return envelope_from_doc(doc["envelope"]) if doc else None

    async def drop_versions(self, record: SecretRecord, versions: set[int]) -> None:
        """Forget envelopes beyond the history bound."""
        if not versions:
            return
        ids = [_version_id(record.organization_id, record.id, v) for v in versions]
        try:
            await self._versions.delete_many({"_id": {"$in": ids}})
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err

    async def tombstones(self, organization_id: str) -> list[SecretRecord]:
        """Deleted records still kept for redaction."""
        try:
            return [record_from_doc(d) async for d in self._tombs.find({"org": organization_id})]
        except PyMongoError as err:
            raise StoreUnavailableError("secret store (MongoDB) does not answer") from err

    async def envelopes(self) -> AsyncIterator[tuple[str, Envelope]]:
        """Every envelope with ``collection/_id``."""
        for name, coll in (("v", self._versions), ("r", self._records), ("t", self._tombs)):
            async for doc in coll.find({}, {"envelope": 1}):
                yield f"{name}/{doc['_id']}", envelope_from_doc(doc["envelope"])

    async def rewrap_at(self, location: str, old: Envelope, new: Envelope) -> bool:
        """Swap the envelope if it is still ``old``."""
        name, _, doc_id = location.partition("/")
        coll = {"v": self._versions, "r": self._records, "t": self._tombs}[name]
        result = await coll.update_one(
            {"_id": doc_id, "envelope": envelope_to_doc(old)},
            {"$set": {"envelope": envelope_to_doc(new)}},
        )
        return result.modified_count == 1
