"""Which scopes a listing covers, its order and its cursors (pages come from a sorted index)."""

import base64
import binascii
import json

from sigil_secrets.domain.model import SecretRecord
from sigil_secrets.domain.record_index import ListScope, scope_token
from sigil_shared.contracts import Actor, SecretListRequest
from sigil_shared.errors import ForbiddenError, InvalidRequestError


def sort_key(record: SecretRecord) -> tuple[str, str]:
    """Listing order: key, then scope (vendor level first: "" sorts before any customer id)."""
    return (record.key, scope_token(record.customer_organization_id))


def encode_cursor(record: SecretRecord) -> str:
    """Opaque cursor after ``record``."""
    raw = json.dumps(list(sort_key(record)), separators=(",", ":")).encode()
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


def list_scope(actor: Actor, request: SecretListRequest) -> ListScope | None:
    """The scopes this request lists, or None when its filters leave nothing visible.

    Vendors see every scope of their organization and may filter to one; customer users
    see only their own customer organization and may not name another.
    """
    wanted = request.customer_organization_id
    own = actor.customer_organization_id
    if own is not None:
        if wanted not in (None, own):
            msg = "customer users may only list their own customer organization's secrets"
            raise ForbiddenError(msg, details={"field": "customerOrganizationId"})
        return None if request.vendor_only else ListScope(every=False, scope=own)
    if wanted is not None:
        return None if request.vendor_only else ListScope(every=False, scope=wanted)
    if request.vendor_only:
        return ListScope(every=False, scope=None)
    return ListScope(every=True)


def split_page(fetched: list[SecretRecord], limit: int) -> tuple[list[SecretRecord], str | None]:
    """A page from ``limit + 1`` fetched records, and the cursor of the next page if any."""
    items = fetched[:limit]
    more = len(fetched) > limit
    return items, encode_cursor(items[-1]) if more and items else None
