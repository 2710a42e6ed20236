"""Key and value checks with error codes a user can act on; messages never quote a value."""

from sigil_shared.errors import InvalidKeyError, InvalidValueError, ValueTooLargeError
from sigil_shared.ids import VALUE_MAX_BYTES, key_problem, value_problem


def check_key(key: str) -> str:
    """Return ``key`` or raise InvalidKeyError naming the rule it breaks."""
    problem = key_problem(key)
    if problem:
        raise InvalidKeyError(f"invalid key: {problem}", details={"field": "key"})
    return key


def check_value(value: str) -> str:
    """Return ``value`` or raise: empty / non-UTF-8 (invalid_value), over 64 KiB (too large)."""
    problem = value_problem(value)
    if problem is None:
        return value
    if "at most" in problem:
        raise ValueTooLargeError(problem, details={"field": "value", "limit": VALUE_MAX_BYTES})
    raise InvalidValueError(problem, details={"field": "value"})


def too_short_to_mask(value: str, min_length: int) -> bool:
    """Values shorter than the redactor's minimum are not masked in logs."""
    return len(value) < min_length
