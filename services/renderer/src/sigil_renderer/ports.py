"""The I/O the renderer depends on."""

from typing import Protocol

from sigil_shared.contracts import PinnedVersion, RenderReceipt, ResolvedSecret


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


class ReceiptStore(Protocol):
    """Durable render receipts."""

    async def get(self, org: str, deployment: str, revision: int) -> RenderReceipt | None:
        """One revision's receipt."""

    async def put(self, receipt: RenderReceipt) -> None:
        """Store a receipt."""

    async def organization(self, org: str) -> list[RenderReceipt]:
        """Every receipt of an organization."""


class ReceiptPublisher(Protocol):
    """Receipt events."""

    async def published(self, receipt: RenderReceipt) -> None:
        """Announce a new receipt."""
