"""Pages of redaction values: within their byte bound, every value once, naming no value."""

import hashlib
import json

import pytest

from sigil_secrets.domain.redaction import SetChangedError, redaction_page


def _all_pages(values: list[str], max_bytes: int) -> list[list[str]]:
    pages: list[list[str]] = []
    start, snapshot = 0, None
    while True:
        page = redaction_page(values, start=start, snapshot=snapshot, max_bytes=max_bytes)
        pages.append(page.values)
        if page.next_start is None:
            return pages
        start, snapshot = page.next_start, page.snapshot


def test_pages_fit_their_bound_and_hold_every_value_once() -> None:
    values = [f"value-{n:04d}-" + "x" * (n % 50) for n in range(400)]
    pages = _all_pages(values, 2_000)
    assert len(pages) > 1
    assert all(sum(len(json.dumps(v)) + 1 for v in page) <= 2_000 for page in pages)
    assert sorted(v for page in pages for v in page) == sorted(values)


def test_a_value_larger_than_the_bound_still_comes_alone_on_its_page() -> None:
    pages = _all_pages(["x" * 5_000, "y" * 10], 1_000)
    assert sorted(len(page) for page in pages) == [1, 1]
    assert sorted(v for page in pages for v in page) == ["x" * 5_000, "y" * 10]


def test_a_page_of_a_changed_set_is_refused_and_the_snapshot_names_no_value() -> None:
    values = [f"value-{n:04d}" for n in range(100)]
    first = redaction_page(values, start=0, snapshot=None, max_bytes=300)
    assert first.next_start is not None
    # A deletion between pages would shift a value past the boundary: refused instead.
    with pytest.raises(SetChangedError):
        redaction_page(values[1:], start=first.next_start, snapshot=first.snapshot, max_bytes=300)
    digests = {hashlib.sha256(v.encode()).hexdigest() for v in values}
    assert first.snapshot not in digests
