"""Pages of the values the redactor masks: bounded in bytes, and naming no value."""

import hashlib
import json
from dataclasses import dataclass


class SetChangedError(ValueError):
    """The values changed since the snapshot a page was asked under."""


@dataclass(frozen=True)
class ValuesPage:
    """One page: its values, where the next one starts (None: the last), and the snapshot
    that names the whole set."""

    values: list[str]
    next_start: int | None
    snapshot: str


def redaction_page(
    values: list[str], *, start: int, snapshot: str | None, max_bytes: int
) -> ValuesPage:
    """The values from position ``start`` of the set's order (by each value's SHA-256), as
    many as fit ``max_bytes`` of JSON (at least one).

    The snapshot is a digest over every value's digest, so it reveals nothing about any one
    value; a page after the first must be asked under the snapshot of the first, else
    SetChangedError (a change between pages could shift a value past the boundary unseen).
    """
    ordered = sorted((hashlib.sha256(v.encode()).digest(), v) for v in values)
    current = hashlib.sha256(b"".join(digest for digest, _ in ordered)).hexdigest()
    if start and snapshot != current:
        raise SetChangedError("the values changed while being paged")
    page: list[str] = []
    size = 0
    for position in range(start, len(ordered)):
        value = ordered[position][1]
        cost = len(json.dumps(value)) + 1  # ASCII-escaped: never shorter than the wire form
        if page and size + cost > max_bytes:
            return ValuesPage(page, position, current)
        page.append(value)
        size += cost
    return ValuesPage(page, None, current)
