"""Pure domain rules: listing order and cursors, deployment scope merge."""

from datetime import UTC, datetime

import pytest

from sigil_secrets.domain import listing
from sigil_secrets.domain.model import Envelope, SecretRecord
from sigil_secrets.domain.scope import deployment_secrets
from sigil_shared.contracts import SecretListRequest
from sigil_shared.errors import InvalidRequestError
from tests.integration.bus_client import actor

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENVELOPE = Envelope("k", b"", b"", b"", b"")


def _record(key: str, scope: str | None = None, org: str = "acme") -> SecretRecord:
    return SecretRecord(
        id=f"{key}-{scope}",
        organization_id=org,
        customer_organization_id=scope,
        key=key,
        version=1,
        created_at=NOW,
        created_by="u",
        updated_at=NOW,
        updated_by="u",
        envelope=ENVELOPE,
    )


def test_customer_wins_on_the_same_key() -> None:
    records = [_record("A"), _record("B"), _record("B", "c1"), _record("C", "c2")]
    chosen = deployment_secrets(records, "c1")
    assert {k: r.customer_organization_id for k, r in chosen.items()} == {"A": None, "B": "c1"}
    vendor = deployment_secrets(records, None)
    assert {k: r.customer_organization_id for k, r in vendor.items()} == {"A": None, "B": None}


def test_listing_sorts_by_key_then_scope_and_pages() -> None:
    records = [_record("B"), _record("A", "c2"), _record("A"), _record("A", "c1")]
    request = SecretListRequest(actor=actor("acme"), request_id="r")
    chosen = listing.select(actor("acme"), request, records)
    assert [(r.key, r.customer_organization_id) for r in chosen] == [
        ("A", None),
        ("A", "c1"),
        ("A", "c2"),
        ("B", None),
    ]
    first, cursor = listing.page(chosen, cursor=None, limit=3)
    assert len(first) == 3
    assert cursor is not None
    rest, end = listing.page(chosen, cursor=cursor, limit=3)
    assert [(r.key, r.customer_organization_id) for r in rest] == [("B", None)]
    assert end is None


def test_listing_never_shows_another_organization() -> None:
    records = [_record("A"), _record("A", org="globex")]
    request = SecretListRequest(actor=actor("acme"), request_id="r")
    assert len(listing.select(actor("acme"), request, records)) == 1


@pytest.mark.parametrize("cursor", ["!!!", "e30", "WzFd"])
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidRequestError):
        listing.page([_record("A")], cursor=cursor, limit=10)
