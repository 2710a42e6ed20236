"""Keep secret values out of messages: Go's own errors can quote a value (range, %v)."""

from collections.abc import Iterable

MASK = "********"
MIN_MASK_LENGTH = 3


def mask_values(message: str, values: Iterable[str]) -> str:
    """Replace every occurrence of every value (longest first) with ``********``."""
    for value in sorted({v for v in values if len(v) >= MIN_MASK_LENGTH}, key=len, reverse=True):
        message = message.replace(value, MASK)
    return message
