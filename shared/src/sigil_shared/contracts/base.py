"""The base contract, the reply envelope and the wire form of a secret value."""

from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, SecretStr
from pydantic.alias_generators import to_camel

from sigil_shared.errors import ErrorCode, SigilError


class Contract(BaseModel):
    """Immutable wire model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        hide_input_in_errors=True,
    )


def _reveal(value: SecretStr) -> str:
    return value.get_secret_value()


#: A secret value on the wire: revealed only when the model is serialised to JSON for
#: the bus; ``repr``/``str`` and Python-mode dumps keep it masked.
WireSecret = Annotated[SecretStr, PlainSerializer(_reveal, return_type=str, when_used="json")]


class ErrorBody(Contract):
    """``{code, message, details}``: the one error shape of bus replies and HTTP bodies."""

    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_error(cls, err: SigilError) -> Self:
        """Describe a Sigil error for the wire."""
        return cls(code=err.code, message=err.message, details=err.details)


class ErrorResponse(Contract):
    """The body of every HTTP error: ``{"error": {code, message, details}}``."""

    error: ErrorBody


DataT = TypeVar("DataT")


class Reply(Contract, Generic[DataT]):
    """Reply envelope of every request/reply command: either ``data`` or ``error``."""

    ok: bool
    data: DataT | None = None
    error: ErrorBody | None = None

    @classmethod
    def success(cls, data: DataT) -> "Reply[DataT]":
        """Wrap a successful result."""
        return cls(ok=True, data=data)

    @classmethod
    def failure(cls, error: ErrorBody) -> "Reply[DataT]":
        """Wrap an error."""
        return cls(ok=False, error=error)
