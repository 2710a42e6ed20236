"""Who may do what, and which scope a command addresses (ARCHITECTURE.md, 'Who may do what')."""

from sigil_secrets.domain.model import SecretRecord
from sigil_shared.contracts import Actor, Role
from sigil_shared.errors import ForbiddenError, NotFoundError


def require_write(actor: Actor) -> None:
    """read_only users may not create, update or delete."""
    if not actor.can_write:
        msg = f"role {actor.role.value} may not change secrets; read_write or admin is required"
        raise ForbiddenError(msg)


def require_admin(actor: Actor) -> None:
    """Only admins read the audit trail."""
    if actor.role is not Role.ADMIN:
        raise ForbiddenError("only admins may read audit events")


def write_scope(actor: Actor, customer_organization_id: str | None) -> str | None:
    """The customer organization (or None for vendor level) a create addresses.

    A customer user always writes its own scope; naming another customer is refused.
    """
    if actor.customer_organization_id is None:
        return customer_organization_id
    if customer_organization_id not in (None, actor.customer_organization_id):
        msg = "customer users may only manage their own customer organization's secrets"
        raise ForbiddenError(msg, details={"field": "customerOrganizationId"})
    return actor.customer_organization_id


def visible(actor: Actor, record: SecretRecord) -> bool:
    """Vendors see their whole organization; customers only their own customer scope."""
    if record.organization_id != actor.organization_id:
        return False
    if actor.customer_organization_id is None:
        return True
    return record.customer_organization_id == actor.customer_organization_id


def ensure_visible(actor: Actor, record: SecretRecord | None) -> SecretRecord:
    """The record, or 404 — the same answer for unknown and out-of-scope ids."""
    if record is None or not visible(actor, record):
        raise NotFoundError("secret not found")
    return record
