"""Reply pass-through: success data leaves as it came; anything else is decoded and checked."""

import pytest
from fastapi.exceptions import RequestValidationError

from sigil_gateway.relay import data_bytes, encode
from sigil_shared import operations as ops
from sigil_shared.contracts import (
    Actor,
    ErrorBody,
    Reply,
    Role,
    SecretCreateRequest,
    SecretListReply,
)
from sigil_shared.errors import ErrorCode, NotFoundError, UnavailableError

ACTOR = Actor(user_id="u", organization_id="acme", role=Role.ADMIN)


def test_a_successful_reply_passes_through_byte_for_byte() -> None:
    page = SecretListReply(items=[], next_cursor="abc")
    envelope = Reply.success(page).model_dump_json().encode()
    assert data_bytes(envelope, ops.SECRET_LIST) == page.model_dump_json().encode()
    assert data_bytes(envelope, ops.SECRET_LIST) == b'{"items":[],"nextCursor":"abc"}'


def test_an_error_reply_raises_the_remote_error() -> None:
    failure = Reply[SecretListReply].failure(
        ErrorBody(code=ErrorCode.NOT_FOUND, message="secret not found")
    )
    with pytest.raises(NotFoundError, match="secret not found"):
        data_bytes(failure.model_dump_json().encode(), ops.SECRET_LIST)


def test_an_envelope_in_another_form_is_decoded_and_checked() -> None:
    spaced = b'{"ok": true, "data": {"items": [], "nextCursor": null}, "error": null}'
    assert data_bytes(spaced, ops.SECRET_LIST) == b'{"items":[],"nextCursor":null}'
    with pytest.raises(UnavailableError):
        data_bytes(b'{"ok":true,"data":null,"error":null}', ops.SECRET_LIST)
    with pytest.raises(ValueError, match="validation error"):
        data_bytes(b'{"ok": true, "data": {"items": [], "extra": 1}}', ops.SECRET_LIST)


def test_a_lone_surrogate_is_refused_as_input_without_its_text() -> None:
    message = SecretCreateRequest(
        actor=ACTOR,
        request_id="r",
        key="K",
        value="ab\ud800cd",
    )
    with pytest.raises(RequestValidationError) as caught:
        encode(message)
    assert "ab" not in str(caught.value.errors())
