"""Secret records and encrypted envelopes as the service holds them."""

from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property

from sigil_shared.contracts import SecretDetail, SecretMetadata, SecretVersionInfo


@dataclass(frozen=True)
class Envelope:
    """One version's value: AES-256-GCM under a data key wrapped by a key-encryption key."""

    kek_id: str
    wrapped_key: bytes
    key_nonce: bytes
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class VersionMeta:
    """Who wrote one version and when."""

    version: int
    created_at: datetime
    created_by: str


def bounded_history(
    versions: tuple[VersionMeta, ...], *, history: int, pinned: frozenset[int] | None
) -> tuple[VersionMeta, ...]:
    """The versions to keep, newest first: every pinned one, and the newest ``history``
    unpinned ones (the bound counts unpinned versions only).

    ``pinned`` None means the pins are unknown (the renderer did not answer): then nothing
    is evicted, because an evicted version a live deployment still uses cannot come back.
    """
    if pinned is None:
        return versions
    kept: list[VersionMeta] = []
    unpinned = 0
    for meta in versions:
        if meta.version in pinned:
            kept.append(meta)
        elif unpinned < history:
            kept.append(meta)
            unpinned += 1
    return tuple(kept)


def history_full_of_pins(record: "SecretRecord", pinned: frozenset[int], history: int) -> bool:
    """True when pinned versions alone take every slot of the history bound."""
    return len(record.kept_versions() & pinned) >= history


@dataclass(frozen=True)
class SecretRecord:
    """A secret's metadata, bounded version history and its current envelope."""

    id: str
    organization_id: str
    customer_organization_id: str | None
    key: str
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    envelope: Envelope
    too_short_to_mask: bool = False
    versions: tuple[VersionMeta, ...] = field(default_factory=tuple)
    deleted_at: datetime | None = None
    deleted_by: str | None = None

    def with_new_version(
        self,
        *,
        envelope: Envelope,
        at: datetime,
        by: str,
        too_short: bool,
        history: int,
        pinned: frozenset[int] | None,
    ) -> "SecretRecord":
        """The record after an update: version + 1, history bounded (see ``bounded_history``)."""
        version = self.version + 1
        versions = bounded_history(
            (VersionMeta(version, at, by), *self.versions), history=history, pinned=pinned
        )
        return replace(
            self,
            version=version,
            updated_at=at,
            updated_by=by,
            envelope=envelope,
            too_short_to_mask=too_short,
            versions=versions,
        )

    def evicts(self, history: int) -> bool:
        """Whether the next version would push an unpinned one past the history bound."""
        return len(self.versions) + 1 > history

    def kept_versions(self) -> set[int]:
        """Versions whose envelopes are still kept."""
        return {v.version for v in self.versions}

    def replaced_since(self, cutoff: datetime) -> list[int]:
        """Kept versions that stopped being current at ``cutoff`` or later (replaced by a
        newer version, or the current one of a secret deleted since): values a log line
        written shortly before the change may hold. A version's end is taken as the
        creation of the next version kept (never earlier than the real one)."""
        ended: list[int] = []
        if self.deleted_at is not None and self.deleted_at >= cutoff:
            ended.append(self.version)
        successor: VersionMeta | None = None
        for meta in self.versions:  # newest first
            if successor is not None and successor.created_at >= cutoff:
                ended.append(meta.version)
            successor = meta
        return ended

    def to_metadata(self) -> SecretMetadata:
        """What every read returns (built once per record: records are immutable)."""
        return self._metadata

    @cached_property
    def _metadata(self) -> SecretMetadata:
        return SecretMetadata(
            id=self.id,
            key=self.key,
            customer_organization_id=self.customer_organization_id,
            version=self.version,
            created_at=self.created_at,
            created_by=self.created_by,
            updated_at=self.updated_at,
            updated_by=self.updated_by,
            too_short_to_mask=self.too_short_to_mask,
        )

    def to_detail(self) -> SecretDetail:
        """Metadata plus version history (newest first), never a value."""
        return SecretDetail(
            **self.to_metadata().model_dump(),
            versions=[
                SecretVersionInfo(
                    version=v.version, created_at=v.created_at, created_by=v.created_by
                )
                for v in self.versions
            ],
        )
