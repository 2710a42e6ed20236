"""Pages of the values the redactor masks: bounded in bytes, with boundaries that name no value."""

import hashlib
import json


def redaction_page(
    values: list[str], *, after: str | None, max_bytes: int
) -> tuple[list[str], str | None]:
    """The values whose SHA-256 comes after ``after``, in that order, as many as fit
    ``max_bytes`` of JSON (at least one), and the last one's digest when more remain.

    Ordered by digest, a page boundary names no value and a value deleted between two
    pages shifts no other past it.
    """
    page: list[str] = []
    size = 0
    last = ""
    for digest, value in sorted((hashlib.sha256(v.encode()).hexdigest(), v) for v in values):
        if after is not None and digest <= after:
            continue
        cost = len(json.dumps(value)) + 1  # ASCII-escaped: never shorter than the wire form
        if page and size + cost > max_bytes:
            return page, last
        page.append(value)
        size += cost
        last = digest
    return page, None
