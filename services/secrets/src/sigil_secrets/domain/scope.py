"""Which secrets a deployment gets: vendor-level, overridden by its customer's on the same key."""

from collections.abc import Iterable

from sigil_secrets.domain.model import SecretRecord


def deployment_secrets(
    records: Iterable[SecretRecord], customer_organization_id: str | None
) -> dict[str, SecretRecord]:
    """Key -> record a deployment of this scope renders with (customer-specific wins)."""
    vendor: dict[str, SecretRecord] = {}
    customer: dict[str, SecretRecord] = {}
    for record in records:
        if record.customer_organization_id is None:
            vendor[record.key] = record
        elif record.customer_organization_id == customer_organization_id:
            customer[record.key] = record
    return vendor | customer
