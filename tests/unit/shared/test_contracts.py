"""Contracts keep values masked everywhere but on the wire, and refuse unknown fields."""

import pytest
from pydantic import ValidationError

from sigil_shared.contracts import (
    Actor,
    Reply,
    Role,
    SecretCreateRequest,
    SecretMetadata,
)
from sigil_shared.errors import ErrorCode, NotFoundError, error_from_code

CANARY = "canary-9fK2-never-printed"


def _request() -> SecretCreateRequest:
    actor = Actor(user_id="u1", organization_id="acme", role=Role.ADMIN)
    return SecretCreateRequest(actor=actor, request_id="r1", key="API_KEY", value=CANARY)


def test_value_is_masked_in_repr_and_python_dump() -> None:
    req = _request()
    assert CANARY not in repr(req)
    assert CANARY not in str(req.model_dump())


def test_value_travels_in_json_with_camel_case_fields() -> None:
    wire = _request().model_dump_json()
    assert CANARY in wire
    assert '"requestId":"r1"' in wire
    assert SecretCreateRequest.model_validate_json(wire).value.get_secret_value() == CANARY


def test_validation_error_text_never_quotes_the_input() -> None:
    with pytest.raises(ValidationError) as info:
        SecretCreateRequest.model_validate(
            {
                "actor": {"userId": "u", "organizationId": "a.b", "role": "admin"},
                "requestId": "r",
                "key": "K",
                "value": CANARY,
                "extra": CANARY,
            }
        )
    assert CANARY not in str(info.value)


def test_reply_round_trip_and_error_rebuild() -> None:
    reply = Reply[SecretMetadata].failure(
        error=__import__("sigil_shared.contracts", fromlist=["ErrorBody"]).ErrorBody(
            code=ErrorCode.NOT_FOUND, message="secret not found"
        )
    )
    parsed = Reply[SecretMetadata].model_validate_json(reply.model_dump_json())
    assert parsed.error is not None
    err = error_from_code(parsed.error.code, parsed.error.message, parsed.error.details)
    assert isinstance(err, NotFoundError)
