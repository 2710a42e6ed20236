"""Contracts keep values masked everywhere but on the wire, and refuse unknown fields."""

import pytest
from pydantic import ValidationError

from sigil_shared.contracts import (
    Actor,
    Reply,
    Role,
    SecretCreateRequest,
    SecretMetadata,
    TemplateValidateReply,
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


# -- validate answers are bounded (red-team N2) -------------------------------------------------


def _issue(n: int, message: str = "template execution error: x") -> dict[str, object]:
    return {"file": "envFile", "phase": "exec", "line": n, "key": f"K{n}", "message": message}


def test_validate_reply_lists_the_first_errors_and_counts_the_rest() -> None:
    from sigil_shared.contracts.templates import VALIDATE_MAX_ERRORS, VALIDATE_MAX_NAMES

    names = [f"K{n:05d}" for n in range(VALIDATE_MAX_NAMES + 5)]
    reply = TemplateValidateReply(
        valid=False,
        errors=[_issue(n) for n in range(250)],
        references=names,
        missing=names[:10],
    )
    assert [e.line for e in reply.errors] == list(range(VALIDATE_MAX_ERRORS))
    assert reply.errors_omitted == 250 - VALIDATE_MAX_ERRORS
    assert reply.references == names[:VALIDATE_MAX_NAMES]
    assert reply.references_omitted == 5
    assert (reply.missing, reply.missing_omitted) == (names[:10], 0)
    wire = reply.model_dump_json()
    assert '"errorsOmitted":150' in wire
    assert '"referencesOmitted":5' in wire
    assert TemplateValidateReply.model_validate_json(wire) == reply  # idempotent


def test_validate_reply_is_bounded_in_bytes_too() -> None:
    big = "x" * (300 * 1024)
    reply = TemplateValidateReply(
        valid=False,
        errors=[_issue(1, big), _issue(2, big), _issue(3, "small")],
        references=["A" * (100 * 1024), "B" * (100 * 1024), "C"],
        missing=["\x00" * (40 * 1024)],  # 6 bytes each as JSON
    )
    # A prefix only: the small third error is not listed after one that did not fit.
    assert ([e.line for e in reply.errors], reply.errors_omitted) == ([1], 2)
    assert (len(reply.references), reply.references_omitted) == (1, 2)
    assert (reply.missing, reply.missing_omitted) == ([], 1)
    assert len(reply.model_dump_json().encode()) < 1024 * 1024


def test_a_bounded_reply_within_the_limits_is_unchanged() -> None:
    reply = TemplateValidateReply(valid=True, errors=[], references=["A"], missing=[])
    assert reply.model_dump(by_alias=True) == {
        "valid": True,
        "errors": [],
        "references": ["A"],
        "missing": [],
        "errorsOmitted": 0,
        "referencesOmitted": 0,
        "missingOmitted": 0,
    }
