"""Go's number literal rules (strconv + parse.newNumber) for template constants."""

import math
import re

_INT_RE = re.compile(
    r"[+-]?(0[xX](_?[0-9a-fA-F])+|0[oO](_?[0-7])+|0[bB](_?[01])+|0(_?[0-7])*|[1-9](_?[0-9])*)"
)
_DEC_FLOAT_RE = re.compile(
    r"[+-]?(([0-9](_?[0-9])*)?\.?([0-9](_?[0-9])*)?)([eE][+-]?[0-9](_?[0-9])*)?"
)
_HEX_FLOAT_RE = re.compile(
    r"[+-]?0[xX](_?[0-9a-fA-F])*\.?([0-9a-fA-F](_?[0-9a-fA-F])*)?[pP][+-]?[0-9](_?[0-9])*"
)
MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)
MAX_UINT64 = 2**64 - 1


class NumberSyntaxError(ValueError):
    """Raised with Go's own message (``illegal number syntax: "x"``)."""


def parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64) without the range check; None if malformed."""
    if not _INT_RE.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").replace("_", "")
    if len(body) > 1 and body[0] == "0" and body[1] not in "xXoObB":
        value = int(body, 8)
    else:
        value = int(body, 0)
    return sign * value


def parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64); None if malformed (ranges give ±Inf like Go's error)."""
    body = text
    if _HEX_FLOAT_RE.fullmatch(body):
        sign = -1.0 if body.startswith("-") else 1.0
        return sign * float.fromhex(body.lstrip("+-").replace("_", ""))
    if not _DEC_FLOAT_RE.fullmatch(body) or not any(c.isdigit() for c in body):
        return None
    try:
        value = float(body.replace("_", ""))
    except ValueError:
        return None
    return None if math.isinf(value) else value
