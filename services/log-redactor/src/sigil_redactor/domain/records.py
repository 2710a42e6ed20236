"""Raw log messages to redacted records: lenient parsing, every text masked, cut only after.

The hot path handles plain dicts in the wire shape of ``LogRecord`` (camelCase keys)
instead of a pydantic round trip per record: a batch of a thousand lines is parsed with one
``json.loads``, every text of every record is masked in one kernel scan, and records are
serialised with ``json.dumps``. Anything that does not fit the contract is kept whole as
the body of an ``unparsed`` record — redacted, never dropped, never forwarded raw.

A record's ``customerOrganizationId`` is checked like the rest of the record but not
stored: who may read a deployment's logs comes from its render receipts, never from a
record, and an id-shaped field would be the one text left unmasked (a secret value can
match the id pattern).
"""

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
#: One encoder for every record (``json.dumps`` with options builds a new one per call).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
#: RFC 3339 as agents write it; anything else goes through ``datetime.fromisoformat``.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)")


@dataclass(slots=True)
class Draft:
    """One record before masking: its wire dict and its texts (masked together).

    ``texts`` is the body, then the resource and severity when present, then each
    attribute's key and value; ``bound`` bounds the stored size from the raw record alone.
    """

    doc: dict[str, Any]
    texts: list[str]
    resource: bool = False
    severity: bool = False
    attributes: int = 0
    bound: int = 0


def _text_bound(text: str) -> int:
    # Escaped JSON: at most 2 bytes per printable ASCII character (\" and \\), 6 otherwise.
    return len(text) * (2 if text.isascii() and text.isprintable() else 6) + 8


def _unparsed(text: str, deployment: str, now: str) -> Draft:
    doc = {"deploymentId": deployment, "timestamp": now, "severity": "unparsed", "body": text}
    return Draft(doc, [text], bound=_RECORD_OVERHEAD + _text_bound(text))


def _timestamp(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    if _RFC3339.fullmatch(value):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.isoformat() if parsed.tzinfo is not None else None


def _structured(item: dict[str, Any], deployment: str, timestamp: str) -> Draft | None:
    """The optional fields of a record, or None when one does not fit the contract."""
    revision = item.get("revision")
    customer = item.get("customerOrganizationId")
    resource, severity = item.get("resource"), item.get("severity")
    attributes = item.get("attributes")
    if not (
        (revision is None or (type(revision) is int and revision >= 1))
        and (customer is None or (isinstance(customer, str) and _ID.fullmatch(customer)))
        and (resource is None or isinstance(resource, str))
        and (severity is None or isinstance(severity, str))
        and (attributes is None or isinstance(attributes, dict))
    ):
        return None
    doc: dict[str, Any] = {"deploymentId": deployment, "timestamp": timestamp}
    if revision is not None:
        doc["revision"] = revision
    # ``customer`` is not stored (see the module docstring).
    draft = Draft(doc, [item["body"]], resource is not None, severity is not None)
    if resource is not None:
        draft.texts.append(resource)
    if severity is not None:
        draft.texts.append(severity)
    if attributes:
        draft.attributes = len(attributes)
        for key, value in attributes.items():
            draft.texts.append(key)
            draft.texts.append(value if isinstance(value, str) else _ENCODE(value))
    return draft


def _draft(item: object, deployment: str, now: str) -> Draft:
    """A structured record, or the whole item kept as an unparsed body."""
    if type(item) is dict:
        body = item.get("body")
        if type(body) is str and _KNOWN.issuperset(item):
            timestamp = _timestamp(item.get("timestamp"))
            if timestamp is not None:
                if len(item) <= 2 + ("deploymentId" in item):  # body and timestamp only
                    # The freshly parsed dict becomes the stored record (no copy per line).
                    item["deploymentId"] = deployment
                    item["timestamp"] = timestamp
                    per_char = 2 if body.isascii() and body.isprintable() else 6
                    return Draft(item, [body], bound=_RECORD_OVERHEAD + 8 + len(body) * per_char)
                draft = _structured(item, deployment, timestamp)
                if draft is not None:
                    draft.bound = _RECORD_OVERHEAD + sum(_text_bound(t) for t in draft.texts)
                    return draft
    return _unparsed(_ENCODE(item), deployment, now)


def parse_message(data: bytes, deployment: str, now: str) -> tuple[list[Draft], bool]:
    """The records of one raw message (an object or an array), and whether it was an array.

    Malformed JSON, a hostile nesting depth or a non-record element become unparsed records.
    """
    try:
        doc = json.loads(data)
        if type(doc) is list:
            return [_draft(item, deployment, now) for item in doc], True
        return [_draft(doc, deployment, now)], False
    except (ValueError, RecursionError):
        return [_unparsed(data.decode("utf-8", "replace"), deployment, now)], False


def _cut(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)


def _finish(
    draft: Draft, texts: Sequence[str], *, max_bytes: int, expansion: float
) -> dict[str, Any]:
    """The masked record as stored: fields cut to their limits, then the body to the budget."""
    doc = draft.doc
    truncated = False
    position = 1
    if draft.resource:
        doc["resource"], cut = _cut(texts[position], RESOURCE_MAX)
        truncated |= cut
        position += 1
    if draft.severity:
        doc["severity"], cut = _cut(texts[position], SEVERITY_MAX)
        truncated |= cut
        position += 1
    if draft.attributes:
        attributes: dict[str, str] = {}
        for i in range(draft.attributes):
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
    if draft.bound * expansion > max_bytes:  # only a record that may be too big is measured
        size = len(encode(doc))
        if size > max_bytes:
            doc["truncated"] = True
            size = len(encode(doc))
            # Each character removed removes at least one byte, so one cut suffices.
            doc["body"] = body[: max(0, len(body) - (size - max_bytes))]
    return doc


def encode(doc: object) -> bytes:
    """Records (one dict or a list of them) as stored: compact UTF-8 JSON."""
    text = _ENCODE(doc)
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
    return min(max_bytes, math.ceil(draft.bound * expansion))


def redact_records(
    drafts: Sequence[Draft],
    redact_many: Callable[[Sequence[str]], list[str]],
    *,
    max_bytes: int,
    expansion: float,
) -> list[dict[str, Any]]:
    """Every text of every record masked in one scan; each record cut to ``max_bytes``."""
    flat = [text for draft in drafts for text in draft.texts]
    masked = redact_many(flat)
    out: list[dict[str, Any]] = []
    position = 0
    for draft in drafts:
        count = len(draft.texts)
        texts = masked[position : position + count]
        out.append(_finish(draft, texts, max_bytes=max_bytes, expansion=expansion))
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
