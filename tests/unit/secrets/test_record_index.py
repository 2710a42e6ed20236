"""The sorted record index behind listing, and the pinned history bound (pure, no sockets)."""

import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from sigil_secrets.domain.model import (
    Envelope,
    SecretRecord,
    VersionMeta,
    bounded_history,
    history_full_of_pins,
)
from sigil_secrets.domain.record_index import ListScope, RecordIndex, scope_token

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENVELOPE = Envelope("k", b"", b"", b"", b"")
SCOPES: list[str | None] = [None, "c1", "c2", "c3"]


def _record(key: str, scope: str | None, org: str = "acme", n: int = 0) -> SecretRecord:
    return SecretRecord(
        id=f"{key}-{scope}-{n}",
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


def _naive(live: dict[str, SecretRecord], where: ListScope) -> list[tuple[str, str]]:
    """The listing order by brute force: filter and sort everything."""
    chosen = [r for r in live.values() if where.every or r.customer_organization_id == where.scope]
    return sorted((r.key, scope_token(r.customer_organization_id)) for r in chosen)


def _pos(record: SecretRecord) -> tuple[str, str]:
    return record.key, scope_token(record.customer_organization_id)


@pytest.mark.parametrize("where", [ListScope(every=True), *(ListScope(False, s) for s in SCOPES)])
def test_pages_match_a_full_sort_under_random_creates_and_deletes(where: ListScope) -> None:
    rng = random.Random(7)
    index = RecordIndex()
    live: dict[str, SecretRecord] = {}
    revision = 0
    for _ in range(600):
        revision += 1
        if live and rng.random() < 0.3:
            victim = rng.choice(sorted(live))
            index.apply("acme", victim, revision, None)
            del live[victim]
        else:
            record = _record(f"K{rng.randrange(300):03d}", rng.choice(SCOPES), n=revision)
            if any(_pos(r) == _pos(record) for r in live.values()):
                continue  # the uniqueness index refuses a duplicate (org, scope, key)
            index.apply("acme", record.id, revision, record)
            live[record.id] = record
        # Replacing a record (a new version) must not disturb the order.
        if live and rng.random() < 0.2:
            some = rng.choice(sorted(live))
            revision += 1
            newer = replace(live[some], version=2)
            index.apply("acme", some, revision, newer)
            live[some] = newer
    assert [_pos(r) for r in index.page("acme", where, after=None, limit=10_000)] == _naive(
        live, where
    )
    # Walk it in pages of 7 and compare with the brute-force order.
    walked: list[tuple[str, str]] = []
    after = None
    while True:
        page = index.page("acme", where, after=after, limit=7)
        walked += [_pos(r) for r in page]
        if len(page) < 7:
            break
        after = _pos(page[-1])
    assert walked == _naive(live, where)


def test_paging_while_others_create_and_delete_never_repeats_or_skips_survivors() -> None:
    rng = random.Random(11)
    index = RecordIndex()
    live: dict[str, SecretRecord] = {}
    revision = 0
    for i in range(400):
        revision += 1
        record = _record(f"K{i:04d}", rng.choice(SCOPES), n=i)
        index.apply("acme", record.id, revision, record)
        live[record.id] = record
    survivors = set(live)
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page = index.page("acme", ListScope(every=True), after=after, limit=25)
        seen += [_pos(r) for r in page]
        # Between pages: other writers create new keys and delete existing ones.
        for _ in range(10):
            revision += 1
            if rng.random() < 0.5:
                victim = rng.choice(sorted(live))
                index.apply("acme", victim, revision, None)
                del live[victim]
                survivors.discard(victim)
            else:
                fresh = _record(f"K{rng.randrange(400):04d}x", rng.choice(SCOPES), n=revision)
                if any(_pos(r) == _pos(fresh) for r in live.values()):
                    continue
                index.apply("acme", fresh.id, revision, fresh)
                live[fresh.id] = fresh
        if len(page) < 25:
            break
        after = _pos(page[-1])
    assert seen == sorted(seen), "pages come in listing order"
    assert len(seen) == len(set(seen)), "no record is listed twice"
    missing = {_pos(live[s]) for s in survivors} - set(seen)
    assert not missing, "every record present for the whole walk is listed"


def test_stale_deliveries_are_ignored_and_deletes_leave_the_index() -> None:
    index = RecordIndex()
    record = _record("A", None)
    index.apply("acme", record.id, 5, record)
    index.apply("acme", record.id, 4, None)  # an older delivery arriving late
    assert index.find("acme", None, "A") == record
    index.forget("acme", record.id)
    assert index.find("acme", None, "A") is None
    assert index.page("acme", ListScope(every=True), after=None, limit=10) == []
    assert index.get("acme", record.id) is None


def _versions(*numbers: int) -> tuple[VersionMeta, ...]:
    return tuple(VersionMeta(n, NOW, "u") for n in numbers)


def test_history_bound_counts_only_unpinned_versions() -> None:
    newest_first = _versions(10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
    kept = bounded_history(newest_first, history=3, pinned=frozenset({1, 5}))
    assert [v.version for v in kept] == [10, 9, 8, 5, 1]
    assert [v.version for v in bounded_history(newest_first, history=3, pinned=frozenset())] == [
        10,
        9,
        8,
    ]


def test_unknown_pins_evict_nothing() -> None:
    newest_first = _versions(5, 4, 3, 2, 1)
    assert bounded_history(newest_first, history=2, pinned=None) == newest_first


def test_history_full_of_pins_when_pins_take_every_slot() -> None:
    record = replace(_record("A", None), version=3, versions=_versions(3, 2, 1))
    updated = record.with_new_version(
        envelope=ENVELOPE, at=NOW, by="u", too_short=False, history=2, pinned=frozenset({1, 2})
    )
    assert updated.kept_versions() == {4, 3, 2, 1}
    assert history_full_of_pins(updated, frozenset({1, 2}), 2) is True
    assert history_full_of_pins(updated, frozenset({2}), 2) is False
