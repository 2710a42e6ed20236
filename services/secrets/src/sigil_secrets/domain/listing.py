"""Filtering, ordering and cursor paging of metadata listings."""

import base64
import binascii
import json
from collections.abc import Iterable

from sigil_secrets.domain.model import SecretRecord
from sigil_secrets.domain.policy import visible
from sigil_shared.contracts import Actor, SecretListRequest
from sigil_shared.errors import ForbiddenError, InvalidRequestError


def _sort_key(record: SecretRecord) -> tuple[str, str]:
    # Vendor-level first on the same key: "" sorts before any customer id.
    return (record.key, record.customer_organization_id or "")


def encode_cursor(record: SecretRecord) -> str:
    """Opaque cursor after ``record``."""
    raw = json.dumps(list(_sort_key(record)), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The position a cursor names, or a clear error."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, scope = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as err:
        raise InvalidRequestError("cursor is not one this API returned") from err
    if not isinstance(key, str) or not isinstance(scope, str):
        raise InvalidRequestError("cursor is not one this API returned")
    return key, scope


def select(
    actor: Actor, request: SecretListRequest, records: Iterable[SecretRecord]
) -> list[SecretRecord]:
    """The records this request may see, sorted by key then scope."""
    wanted = request.customer_organization_id
    if actor.customer_organization_id is not None and wanted not in (
        None,
        actor.customer_organization_id,
    ):
        msg = "customer users may only list their own customer organization's secrets"
        raise ForbiddenError(msg, details={"field": "customerOrganizationId"})
    chosen = []
    for record in records:
        if not visible(actor, record):
            continue
        if request.vendor_only and record.customer_organization_id is not None:
            continue
        if wanted is not None and record.customer_organization_id != wanted:
            continue
        chosen.append(record)
    chosen.sort(key=_sort_key)
    return chosen


def page(
    records: list[SecretRecord], *, cursor: str | None, limit: int
) -> tuple[list[SecretRecord], str | None]:
    """One page after ``cursor`` and the cursor of the next page, if any."""
    start = 0
    if cursor is not None:
        after = decode_cursor(cursor)
        start = next((i for i, r in enumerate(records) if _sort_key(r) > after), len(records))
    items = records[start : start + limit]
    more = start + limit < len(records)
    return items, encode_cursor(items[-1]) if more and items else None
