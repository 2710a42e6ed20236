"""The I/O the renderer depends on."""

from dataclasses import dataclass
from typing import Protocol

from sigil_shared.contracts import PinnedVersion, RenderReceipt, ResolvedSecret, ValueUseEvent


class SecretsSource(Protocol):
    """Values a deployment of a scope renders with."""

    async def resolve(
        self,
        org: str,
        customer: str | None,
        pinned: list[PinnedVersion] | None = None,
        keys: set[str] | None = None,
    ) -> dict[str, ResolvedSecret]:
        """Key -> resolved secret (only ``keys`` when given)."""


class RenderValues(SecretsSource, Protocol):
    """Values for rendering: current ones (fresh, usually cached) and pinned versions."""

    async def current(
        self, org: str, customer: str | None, keys: set[str]
    ) -> dict[str, ResolvedSecret]:
        """Current values of ``keys``, never older than a change acknowledged before."""

    async def pinned(
        self, org: str, customer: str | None, pins: list[PinnedVersion]
    ) -> dict[str, ResolvedSecret]:
        """Exactly the pinned versions still kept; a gone one is absent."""


class GenerationSource(Protocol):
    """An organization's scope generation (contract C2), read fresh on every call."""

    async def current(self, org: str) -> int | None:
        """The generation as of a read issued after this call began; None if unknown."""


@dataclass(frozen=True)
class StoredReceipt:
    """A receipt as stored, with the store revision an update must name."""

    receipt: RenderReceipt
    revision: int


class ReceiptStore(Protocol):
    """Durable render receipts."""

    async def get(self, org: str, deployment: str, revision: int) -> StoredReceipt | None:
        """One revision's receipt."""

    async def claim_owner(self, org: str, deployment: str, customer: str | None) -> str | None:
        """The deployment's scope, recorded by its first render (None: vendor-internal)."""

    async def create(self, receipt: RenderReceipt, *, encoded: bytes | None = None) -> bool:
        """Store a new revision's receipt; False if one exists already (a lost race)."""

    async def update(self, receipt: RenderReceipt, *, last: int) -> bool:
        """Replace a receipt still at store revision ``last``; False if it moved on."""

    async def organization(self, org: str) -> list[RenderReceipt]:
        """Every receipt of an organization."""


class ReceiptPublisher(Protocol):
    """Receipt events."""

    async def published(self, receipt: RenderReceipt, *, encoded: bytes | None = None) -> None:
        """Announce a new receipt."""


class AuditIntake(Protocol):
    """Durable value-use audit records (contract C1)."""

    async def record(self, event: ValueUseEvent) -> None:
        """Return once the event is durably stored; UnavailableError otherwise."""


class ScopeKeySource(Protocol):
    """Which keys exist in a deployment scope: what validation may know, never a value."""

    async def keys(self, org: str, customer: str | None, names: set[str] | None) -> frozenset[str]:
        """Keys of the scope (vendor-level merged with ``customer``'s), only among ``names``
        when given."""
