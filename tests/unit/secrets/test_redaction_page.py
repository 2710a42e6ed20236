"""Pages of redaction values: within their byte bound, every value once, stable boundaries."""

import json

from sigil_secrets.domain.redaction import redaction_page


def test_a_page_of_values_fits_its_bound_and_a_boundary_survives_a_deletion() -> None:
    values = [f"value-{n:04d}-" + "x" * (n % 50) for n in range(400)]
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page, next_after = redaction_page(values, after=after, max_bytes=2_000)
        pages.append(page)
        assert sum(len(json.dumps(v)) + 1 for v in page) <= 2_000
        if next_after is None:
            break
        after = next_after
    assert len(pages) > 1
    assert sorted(v for page in pages for v in page) == sorted(values)
    # A value deleted between two pages shifts no other value past the boundary.
    shown, boundary = redaction_page(values, after=None, max_bytes=2_000)
    rest, end = redaction_page(
        [v for v in values if v != shown[0]], after=boundary, max_bytes=10**9
    )
    assert end is None
    assert sorted(shown + rest) == sorted(values)


def test_a_value_larger_than_the_bound_still_comes_alone_on_its_page() -> None:
    page, next_after = redaction_page(["x" * 5_000, "y" * 10], after=None, max_bytes=1_000)
    assert len(page) == 1
    assert next_after is not None
    rest, end = redaction_page(["x" * 5_000, "y" * 10], after=next_after, max_bytes=1_000)
    assert sorted(page + rest) == ["x" * 5_000, "y" * 10]
    assert end is None
