"""Commands to the bus whose successful reply goes out to HTTP as it came, without re-encoding.

A command's ``data`` is the same contract as the HTTP response body, and the services
serialise the envelope compactly in field order (``{"ok":true,"data":...,"error":null}``),
so on success the gateway slices the data bytes out instead of decoding, re-validating and
re-encoding them (a third of a listing's gateway CPU). Anything else — an error reply, or an
envelope not in that exact form — is decoded and checked as before.
"""

from typing import Any, TypeVar

from fastapi import Response
from fastapi.exceptions import RequestValidationError
from faststream.nats import NatsBroker
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from sigil_shared import bus
from sigil_shared.contracts import Reply
from sigil_shared.errors import UnavailableError, error_from_code
from sigil_shared.operations import Command

RequestT = TypeVar("RequestT", bound=BaseModel)
ReplyT = TypeVar("ReplyT", bound=BaseModel)

_OK_PREFIX = b'{"ok":true,"data":'
_OK_SUFFIX = b',"error":null}'


def encode(message: BaseModel) -> bytes:
    """The command as JSON bytes; text that is not valid UTF-8 is the caller's 422."""
    try:
        return message.model_dump_json().encode()
    except (PydanticSerializationError, UnicodeError) as err:
        # JSON lets a client send a lone surrogate (``"\ud800"``), which Python keeps in the
        # string but UTF-8 cannot carry. Refuse it as input, naming no text.
        raise RequestValidationError(
            [
                {
                    "loc": ("body",),
                    "type": "string_unicode",
                    "msg": "text must be valid UTF-8 (a lone surrogate escape is not)",
                }
            ]
        ) from err


async def send(
    broker: NatsBroker, op: Command[RequestT, ReplyT], message: RequestT, *, timeout: float
) -> bytes:
    """Send a declared command and return the raw reply envelope, or raise ``unavailable``."""
    return await bus.send(broker, op, encode(message), timeout=timeout)


def data_bytes(body: bytes, op: Command[Any, Any]) -> bytes:
    """The JSON of the reply's ``data``, or the remote error raised as a Sigil error."""
    if body.startswith(_OK_PREFIX) and body.endswith(_OK_SUFFIX):
        data = body[len(_OK_PREFIX) : -len(_OK_SUFFIX)]
        if data.startswith(b"{"):
            return data
    reply: Reply[Any] = Reply[op.reply].model_validate_json(body)  # type: ignore[name-defined]
    if reply.error is not None:
        raise error_from_code(reply.error.code, reply.error.message, reply.error.details)
    if reply.data is None:
        raise UnavailableError(f"empty reply on {op.subject}")
    model: BaseModel = reply.data
    return model.model_dump_json().encode()


async def relay(
    broker: NatsBroker,
    op: Command[RequestT, ReplyT],
    message: RequestT,
    *,
    timeout: float,
    status: int = 200,
) -> Response:
    """Send a declared command and answer HTTP with its reply data as JSON."""
    body = await send(broker, op, message, timeout=timeout)
    return Response(data_bytes(body, op), status_code=status, media_type="application/json")
