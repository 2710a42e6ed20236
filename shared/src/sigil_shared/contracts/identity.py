"""Who is acting: roles and the actor carried by every command."""

from enum import StrEnum

from pydantic import Field

from sigil_shared.contracts.base import Contract
from sigil_shared.ids import EntityId


class Role(StrEnum):
    """The three roles of ARCHITECTURE.md."""

    READ_ONLY = "read_only"
    READ_WRITE = "read_write"
    ADMIN = "admin"


class Actor(Contract):
    """The authenticated user on whose behalf a command runs."""

    user_id: str = Field(min_length=1, max_length=256)
    organization_id: EntityId
    customer_organization_id: EntityId | None = None
    role: Role

    @property
    def is_customer(self) -> bool:
        """True for users of a customer organization."""
        return self.customer_organization_id is not None

    @property
    def can_write(self) -> bool:
        """True for roles that may create, update and delete secrets."""
        return self.role in (Role.READ_WRITE, Role.ADMIN)
