"""The error model shared by bus replies and HTTP responses, and the exception base of Sigil."""

from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    """Machine-readable error codes; each maps to one HTTP status."""

    INVALID_MESSAGE = "invalid_message"
    INVALID_KEY = "invalid_key"
    INVALID_VALUE = "invalid_value"
    VALUE_TOO_LARGE = "value_too_large"
    INVALID_REQUEST = "invalid_request"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    VERSION_CONFLICT = "version_conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RATE_LIMITED = "rate_limited"
    AUDIT_UNAVAILABLE = "audit_unavailable"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_MESSAGE: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_KEY: 422,
    ErrorCode.INVALID_VALUE: 422,
    ErrorCode.VALUE_TOO_LARGE: 422,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.VERSION_CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.AUDIT_UNAVAILABLE: 503,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 503,
}


class SigilError(Exception):
    """Base of every error Sigil reports to a caller. Messages must never contain a value."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class InvalidMessageError(SigilError):
    """A bus message or HTTP body that does not match its contract."""

    code = ErrorCode.INVALID_MESSAGE


class InvalidKeyError(SigilError):
    """A secret key that breaks the naming rule."""

    code = ErrorCode.INVALID_KEY


class InvalidValueError(SigilError):
    """An empty or non-UTF-8 secret value."""

    code = ErrorCode.INVALID_VALUE


class ValueTooLargeError(SigilError):
    """A secret value over 64 KiB."""

    code = ErrorCode.VALUE_TOO_LARGE


class InvalidRequestError(SigilError):
    """A well-formed request that asks for something impossible (bad filter, bad cursor)."""

    code = ErrorCode.INVALID_REQUEST


class ForbiddenError(SigilError):
    """The actor's role may not perform the action."""

    code = ErrorCode.FORBIDDEN


class NotFoundError(SigilError):
    """Unknown id, or an id outside the actor's scope (never told apart)."""

    code = ErrorCode.NOT_FOUND


class ConflictError(SigilError):
    """Duplicate key in scope, or a change that clashes with current state."""

    code = ErrorCode.CONFLICT


class VersionConflictError(SigilError):
    """The expected version is no longer the current one."""

    code = ErrorCode.VERSION_CONFLICT


class AuditUnavailableError(SigilError):
    """The audit record could not be written, so the change was not applied."""

    code = ErrorCode.AUDIT_UNAVAILABLE


class UnavailableError(SigilError):
    """A dependency (bus, store, another service) did not answer."""

    code = ErrorCode.UNAVAILABLE


ERRORS_BY_CODE: dict[ErrorCode, type[SigilError]] = {
    cls.code: cls
    for cls in (
        InvalidMessageError,
        InvalidKeyError,
        InvalidValueError,
        ValueTooLargeError,
        InvalidRequestError,
        ForbiddenError,
        NotFoundError,
        ConflictError,
        VersionConflictError,
        AuditUnavailableError,
        UnavailableError,
    )
}


def error_from_code(code: ErrorCode, message: str, details: dict[str, Any]) -> SigilError:
    """Rebuild the exception a remote service raised from its error reply."""
    cls = ERRORS_BY_CODE.get(code, SigilError)
    return cls(message, details=details)
