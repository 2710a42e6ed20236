"""Identifier and secret-key rules of ARCHITECTURE.md, as validators with user-facing messages."""

import re
from typing import Annotated

from pydantic import AfterValidator, Field

#: Organization, customer organization and deployment ids become NATS subject tokens.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
#: ASCII only on purpose: Python's ``\w`` would accept Unicode letters.
KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
KEY_MAX_LENGTH = 256
VALUE_MAX_BYTES = 64 * 1024

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_KEY_BODY_RE = re.compile(r"[A-Za-z0-9_]*")


def key_problem(key: str) -> str | None:
    """Return which naming rule ``key`` breaks, or None when it is a valid secret key."""
    if not key:
        return "key must not be empty"
    if len(key) > KEY_MAX_LENGTH:
        return f"key must be at most {KEY_MAX_LENGTH} characters"
    first = key[0]
    if not (first.isascii() and first.isalpha()):
        return "key must start with a letter (a-z, A-Z)"
    if not _KEY_BODY_RE.fullmatch(key):
        return "key may contain only ASCII letters, digits and underscores"
    return None


def id_problem(value: str) -> str | None:
    """Return why ``value`` is not a valid organization/customer/deployment id, or None."""
    if _ID_RE.fullmatch(value):
        return None
    return (
        "must be 1-64 characters of ASCII letters, digits, '_' or '-', "
        "starting with a letter or digit"
    )


def value_problem(value: str) -> str | None:
    """Return why ``value`` cannot be stored as a secret value, or None. Never quotes it."""
    if not value:
        return "value must not be empty"
    if len(value.encode("utf-8", "surrogatepass")) > VALUE_MAX_BYTES:
        return f"value must be at most {VALUE_MAX_BYTES} bytes (64 KiB) of UTF-8"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "value must be valid UTF-8 text"
    return None


def _check_id(value: str) -> str:
    problem = id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_key(value: str) -> str:
    problem = key_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# Length is bounded before the regex runs so hostile input stays cheap.
EntityId = Annotated[str, Field(max_length=64), AfterValidator(_check_id)]
SecretKey = Annotated[str, Field(max_length=KEY_MAX_LENGTH * 4), AfterValidator(_check_key)]
