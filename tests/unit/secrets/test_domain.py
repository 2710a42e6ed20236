"""Pure domain rules: listing order and cursors, deployment scope merge."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sigil_secrets.domain import listing
from sigil_secrets.domain.model import Envelope, SecretRecord, VersionMeta
from sigil_secrets.domain.record_index import ListScope, RecordIndex
from sigil_secrets.domain.scope import deployment_secrets
from sigil_shared.contracts import Actor, SecretListRequest
from sigil_shared.errors import ForbiddenError, InvalidRequestError
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


def _index(records: list[SecretRecord]) -> RecordIndex:
    index = RecordIndex()
    for revision, record in enumerate(records, start=1):
        index.apply(record.organization_id, record.id, revision, record)
    return index


def test_listing_sorts_by_key_then_scope_and_pages() -> None:
    index = _index([_record("B"), _record("A", "c2"), _record("A"), _record("A", "c1")])
    request = SecretListRequest(actor=actor("acme"), request_id="r")
    where = listing.list_scope(actor("acme"), request)
    assert where == ListScope(every=True)
    everything = index.page("acme", where, after=None, limit=10)
    assert [(r.key, r.customer_organization_id) for r in everything] == [
        ("A", None),
        ("A", "c1"),
        ("A", "c2"),
        ("B", None),
    ]
    first, cursor = listing.split_page(index.page("acme", where, after=None, limit=4), 3)
    assert len(first) == 3
    assert cursor is not None
    after = listing.decode_cursor(cursor)
    rest, end = listing.split_page(index.page("acme", where, after=after, limit=4), 3)
    assert [(r.key, r.customer_organization_id) for r in rest] == [("B", None)]
    assert end is None


def test_listing_never_shows_another_organization() -> None:
    index = _index([_record("A"), _record("A", org="globex")])
    assert len(index.page("acme", ListScope(every=True), after=None, limit=10)) == 1


@pytest.mark.parametrize(
    ("who", "filters", "expected"),
    [
        (actor("acme"), {}, ListScope(every=True)),
        (actor("acme"), {"vendor_only": True}, ListScope(every=False, scope=None)),
        (actor("acme"), {"customer_organization_id": "c1"}, ListScope(every=False, scope="c1")),
        (actor("acme", customer="c1"), {}, ListScope(every=False, scope="c1")),
        (actor("acme", customer="c1"), {"vendor_only": True}, None),
    ],
)
def test_list_scope_follows_the_role_table(
    who: Actor, filters: dict[str, object], expected: ListScope | None
) -> None:
    request = SecretListRequest.model_validate({"actor": who, "request_id": "r", **filters})
    assert listing.list_scope(who, request) == expected


def test_customer_naming_another_customer_is_forbidden() -> None:
    who = actor("acme", customer="c1")
    request = SecretListRequest(actor=who, request_id="r", customer_organization_id="c2")
    with pytest.raises(ForbiddenError):
        listing.list_scope(who, request)


@pytest.mark.parametrize("cursor", ["!!!", "e30", "WzFd"])
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidRequestError):
        listing.decode_cursor(cursor)


def test_versions_replaced_or_deleted_since_a_cutoff() -> None:
    record = _record("K").with_new_version(  # version 1 was created at NOW
        envelope=ENVELOPE, at=NOW, by="u", too_short=False, history=32, pinned=frozenset()
    )
    record = replace(record, versions=(*record.versions, VersionMeta(1, NOW, "u")))
    for hour in (2, 5):  # versions 3 and 4, at NOW + 2 h and NOW + 5 h
        record = record.with_new_version(
            envelope=ENVELOPE,
            at=NOW + timedelta(hours=hour),
            by="u",
            too_short=False,
            history=32,
            pinned=frozenset(),
        )
    assert record.version == 4
    # Version 3 ended at +5 h, version 2 at +2 h, version 1 at NOW; 4 is current.
    assert record.replaced_since(NOW + timedelta(hours=3)) == [3]
    assert record.replaced_since(NOW + timedelta(hours=1)) == [3, 2]
    assert record.replaced_since(NOW) == [3, 2, 1]
    assert record.replaced_since(NOW + timedelta(hours=6)) == []
    deleted = replace(record, deleted_at=NOW + timedelta(hours=7))
    assert deleted.replaced_since(NOW + timedelta(hours=6)) == [4]
    assert deleted.replaced_since(NOW + timedelta(hours=8)) == []
    # A version whose successor was evicted counts as replaced when the next version kept
    # was written (later than it really was: masked longer, never shorter).
    gapped = replace(record, versions=tuple(v for v in record.versions if v.version != 3))
    assert gapped.replaced_since(NOW + timedelta(hours=4)) == [2]
    assert gapped.replaced_since(NOW + timedelta(hours=6)) == []
