"""Raw log messages to redacted records: lenient parsing, every text masked, cut only after.

The hot path handles plain dicts in the wire shape of ``LogRecord`` (camelCase keys)
instead of a pydantic round trip per record: a batch of a thousand lines is parsed with one
``json.loads``, every text of every record is masked in one kernel scan, and records are
serialised with ``json.dumps``. Anything that does not fit the contract is kept whole as
the body of an ``unparsed`` record — redacted, never dropped, never forwarded raw.
"""

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sigil_shared.contracts.logs import (
    ATTRIBUTE_KEY_MAX,
    ATTRIBUTE_VALUE_MAX,
    ATTRIBUTES_MAX,
    RESOURCE_MAX,
    SEVERITY_MAX,
)

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_KNOWN = frozenset(
    {
        "deploymentId",
        "revision",
        "resource",
        "timestamp",
        "severity",
        "body",
        "customerOrganizationId",
        "attributes",
        "truncated",
    }
)
_RECORD_OVERHEAD = 512


@dataclass(slots=True)
class Draft:
    """One record before masking: its wire dict and its texts (masked together)."""

    doc: dict[str, Any]
    texts: list[str] = field(default_factory=list)


def _unparsed(text: str, deployment: str, now: str) -> Draft:
    doc = {"deploymentId": deployment, "timestamp": now, "severity": "unparsed", "body": text}
    return Draft(doc, [text])


def _timestamp(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.isoformat() if parsed.tzinfo is not None else None


def _draft(item: object, deployment: str, now: str) -> Draft:
    """A structured record, or the whole item kept as an unparsed body."""
    if isinstance(item, dict) and isinstance(item.get("body"), str) and item.keys() <= _KNOWN:
        timestamp = _timestamp(item.get("timestamp"))
        revision = item.get("revision")
        customer = item.get("customerOrganizationId")
        resource, severity = item.get("resource"), item.get("severity")
        attributes = item.get("attributes")
        if (
            timestamp is not None
            and (revision is None or (type(revision) is int and revision >= 1))
            and (customer is None or (isinstance(customer, str) and _ID.fullmatch(customer)))
            and (resource is None or isinstance(resource, str))
            and (severity is None or isinstance(severity, str))
            and (attributes is None or isinstance(attributes, dict))
        ):
            doc: dict[str, Any] = {"deploymentId": deployment, "timestamp": timestamp}
            texts: list[str] = [item["body"]]
            if revision is not None:
                doc["revision"] = revision
            if customer is not None:
                doc["customerOrganizationId"] = customer
            if resource is not None:
                texts.append(resource)
            if severity is not None:
                texts.append(severity)
            doc["_slots"] = (resource is not None, severity is not None)
            if attributes:
                keys = list(attributes)
                doc["_attributes"] = len(keys)
                for key in keys:
                    value = attributes[key]
                    texts.append(key)
                    texts.append(
                        value
                        if isinstance(value, str)
                        else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
                    )
            return Draft(doc, texts)
    return _unparsed(json.dumps(item, ensure_ascii=False, separators=(",", ":")), deployment, now)


def parse_message(data: bytes, deployment: str, now: str) -> tuple[list[Draft], bool]:
    """The records of one raw message (an object or an array), and whether it was an array.

    Malformed JSON, a hostile nesting depth or a non-record element become unparsed records.
    """
    try:
        doc = json.loads(data)
        if isinstance(doc, list):
            return [_draft(item, deployment, now) for item in doc], True
        return [_draft(doc, deployment, now)], False
    except (ValueError, RecursionError):
        return [_unparsed(data.decode("utf-8", "replace"), deployment, now)], False


def _cut(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)


def _finish(draft: Draft, texts: Sequence[str], max_bytes: int) -> bytes:
    """The masked record as stored: fields cut to their limits, then the body to the budget."""
    doc = draft.doc
    truncated = False
    slots = doc.pop("_slots", (False, False))
    count = doc.pop("_attributes", 0)
    position = 1
    if slots[0]:
        doc["resource"], cut = _cut(texts[position], RESOURCE_MAX)
        truncated |= cut
        position += 1
    if slots[1]:
        doc["severity"], cut = _cut(texts[position], SEVERITY_MAX)
        truncated |= cut
        position += 1
    if count:
        attributes: dict[str, str] = {}
        for i in range(count):
            if len(attributes) == ATTRIBUTES_MAX:
                truncated = True
                break
            key, cut_key = _cut(texts[position + 2 * i], ATTRIBUTE_KEY_MAX)
            value, cut_value = _cut(texts[position + 2 * i + 1], ATTRIBUTE_VALUE_MAX)
            truncated |= cut_key or cut_value
            while key in attributes:  # two keys masked alike: keep both
                key = f"{key}~"
            attributes[key] = value
        doc["attributes"] = attributes
    body = texts[0]
    doc["body"] = body
    if truncated:
        doc["truncated"] = True
    data = _encode(doc)
    if len(data) > max_bytes:
        doc["truncated"] = True
        data = _encode(doc)
        # Each character removed removes at least one byte, so one cut suffices.
        doc["body"] = body[: max(0, len(body) - (len(data) - max_bytes))]
        data = _encode(doc)
    return data


def _encode(doc: dict[str, Any]) -> bytes:
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape in the raw JSON
        clean = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return clean.encode()


def size_bound(draft: Draft, *, expansion: float, max_bytes: int) -> int:
    """An upper bound of the stored size, from the raw record alone (deterministic).

    Parts of a batch are split by this bound, so a redelivered message splits the same way
    whatever the values are by then, and each part's message id names the same records.
    """
    total = _RECORD_OVERHEAD
    for text in draft.texts:
        per_char = 2 if text.isascii() and text.isprintable() else 6
        total += len(text) * per_char
    return min(max_bytes, math.ceil(total * expansion))


def redact_records(
    drafts: Sequence[Draft], redact_many: Callable[[Sequence[str]], list[str]], *, max_bytes: int
) -> list[bytes]:
    """Every text of every record masked in one scan; each record serialised and cut."""
    flat = [text for draft in drafts for text in draft.texts]
    masked = redact_many(flat)
    out: list[bytes] = []
    position = 0
    for draft in drafts:
        count = len(draft.texts)
        out.append(_finish(draft, masked[position : position + count], max_bytes))
        position += count
    return out


def pack(bounds: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges of records whose bounds sum to at most ``budget``."""
    parts: list[tuple[int, int]] = []
    start, total = 0, 2
    for i, bound in enumerate(bounds):
        if i > start and total + bound + 1 > budget:
            parts.append((start, i))
            start, total = i, 2
        total += bound + 1
    if start < len(bounds):
        parts.append((start, len(bounds)))
    return parts
