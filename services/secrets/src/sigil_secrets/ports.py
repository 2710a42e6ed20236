"""The I/O the service depends on, as Protocols; adapters implement them."""

from collections.abc import AsyncIterator
from typing import Protocol

from sigil_secrets.domain.model import Envelope, SecretRecord
from sigil_secrets.domain.record_index import ListScope
from sigil_shared.contracts import AffectedDeployment, AuditEvent, SecretChanged


class SecretStore(Protocol):
    """Records (metadata + current envelope), version envelopes and tombstones.

    Revisions are opaque optimistic-concurrency tokens. Every lookup takes the
    organization id: nothing is ever found by secret id alone.
    """

    async def setup(self) -> None:
        """Create buckets/collections/indexes if missing."""

    async def close(self) -> None:
        """Release connections and consumers."""

    async def claim(self, organization_id: str, scope: str | None, key: str, secret_id: str) -> int:
        """Reserve (org, scope, key) for a new secret; KeyTakenError if a live one holds it.

        Returns the new secret's first version: 1, or one past the last version of a
        deleted secret of the same key (versions of a key never repeat, so a pin on a
        deleted secret's version can never match its successor).
        """

    async def insert(self, record: SecretRecord) -> int:
        """Store the record of a claimed key (at its first version); KeyTakenError if (org,
        scope, key) is taken after all. Returns its revision."""

    async def load(
        self, organization_id: str, secret_id: str, *, cached: bool = False
    ) -> tuple[SecretRecord, int] | None:
        """A live record and its revision (``cached``: a replica-local copy will do)."""

    async def load_all(self, organization_id: str) -> list[SecretRecord]:
        """Every live record of one organization (never another's)."""

    async def sync(self) -> None:
        """Make the next reads see every change stored before this call, whichever replica
        made it (a replica-local copy catches up; a server-side store needs nothing)."""

    async def find(self, organization_id: str, scope: str | None, key: str) -> SecretRecord | None:
        """The live record of (scope, key) in one organization."""

    async def page(
        self,
        organization_id: str,
        where: ListScope,
        *,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[SecretRecord]:
        """Up to ``limit`` records after the (key, scope token) position, sorted by key then
        scope; the cost grows with the page, not with the organization."""

    async def commit_version(
        self, record: SecretRecord, *, previous: SecretRecord, expected_revision: int
    ) -> int:
        """Commit ``record`` (a new version of ``previous``) as one operation: the version's
        envelope is created, never overwritten, then the record is compare-and-set.

        StaleRevisionError if another writer committed first; a losing call removes only
        what it wrote itself. Returns the record's new revision.
        """

    async def revert_version(
        self, previous: SecretRecord, *, updated: SecretRecord, revision: int
    ) -> int:
        """Undo ``commit_version`` (audit compensation): record back, new envelope removed."""

    async def replace(self, record: SecretRecord, *, expected_revision: int) -> int:
        """Overwrite a live record; StaleRevisionError if it changed. Returns the new revision."""

    async def remove(self, record: SecretRecord, *, expected_revision: int) -> None:
        """Delete a live record, keeping a tombstone and its version envelopes."""

    async def restore(self, record: SecretRecord) -> None:
        """Undo ``remove`` (compensation when the audit record could not be written)."""

    async def discard(self, record: SecretRecord) -> None:
        """Undo ``insert`` entirely (compensation): record, index and envelopes."""

    async def load_version(
        self, organization_id: str, secret_id: str, version: int
    ) -> Envelope | None:
        """One kept version's envelope."""

    async def drop_versions(self, record: SecretRecord, versions: set[int]) -> None:
        """Forget envelopes beyond the history bound."""

    async def tombstones(self, organization_id: str) -> list[SecretRecord]:
        """Deleted records still kept for redaction."""

    def envelopes(self) -> AsyncIterator[tuple[str, Envelope]]:
        """Every stored envelope with an opaque location, for key rotation."""
        ...

    async def rewrap_at(self, location: str, old: Envelope, new: Envelope) -> bool:
        """Replace ``old`` by ``new`` at ``location`` if unchanged; False if it changed."""

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the store answers."""


class AuditLog(Protocol):
    """Durable, append-only, hash-chained audit events."""

    async def setup(self) -> None:
        """Create the stream/collection if missing."""

    async def append(self, event: AuditEvent) -> AuditEvent:
        """Chain and store ``event``; raise AuditUnavailableError if it cannot be written."""

    async def append_all(
        self, events: list[AuditEvent], *, background: bool = False
    ) -> list[AuditEvent | BaseException]:
        """``append`` for several events together: each one's stored event or its error.

        ``background``: nobody waits on these appends to answer a request (the value-use
        intake), so they may be grouped for the least work rather than the least latency."""

    def events(self, organization_id: str, *, after: int) -> AsyncIterator[tuple[int, AuditEvent]]:
        """Events of one organization in order, with their position, after ``after``."""
        ...

    async def ping(self) -> None:
        """Raise AuditUnavailableError unless audit records can be written."""

    async def writable(self, organization_id: str) -> None:
        """Raise AuditUnavailableError when the organization's next event is known not to
        be storable: checked before a change writes anything (cheap while all is well)."""


class EventPublisher(Protocol):
    """Change events for the redactor and anyone else (no values)."""

    async def publish(self, event: SecretChanged) -> None:
        """Best effort: the audit log, not this, is the durable record."""


class ImpactSource(Protocol):
    """Which live deployment revisions were rendered with a secret."""

    async def affected(self, org: str, customer: str | None, key: str) -> list[AffectedDeployment]:
        """Live revisions that used (key, scope); raises SigilError when unknown."""


class GenerationMarker(Protocol):
    """Contract C2: a per-organization number renderers compare to their cached values."""

    async def advance(self, organization_id: str) -> None:
        """Return once the generation was raised by a write that began after this call.

        Raise UnavailableError when it cannot be written (the change must then not be
        acknowledged: a renderer would keep rendering the old value).
        """
