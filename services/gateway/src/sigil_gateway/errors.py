"""Exception handlers: every error leaves as ``{"error": {code, message, details}}``."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sigil_shared.contracts import ErrorBody, ErrorResponse
from sigil_shared.errors import HTTP_STATUS, ErrorCode, SigilError

log = logging.getLogger("sigil.gateway")

_DESCRIPTIONS = {
    400: "Malformed request (invalid JSON)",
    401: "Missing, malformed, expired or wrongly signed token",
    403: "Your role may not do this",
    404: "Not found in your scope",
    409: "Conflict (duplicate key, stale version, secret in use)",
    413: "Request body too large",
    422: "Invalid input; the field is named, the value never echoed",
    429: "Rate limited; see Retry-After",
    503: "A service or the audit trail is unavailable",
}
#: Error responses every API route may give, documented with the one error shape.
API_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": text} for status, text in _DESCRIPTIONS.items()
}


def error_response(body: ErrorBody, status: int | None = None) -> JSONResponse:
    """The one error shape of the HTTP API."""
    return JSONResponse(
        {"error": body.model_dump(mode="json")},
        status_code=status or HTTP_STATUS.get(body.code, 503),
    )


async def _on_sigil(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SigilError)
    return error_response(ErrorBody.from_error(exc))


def _field_position(body: object, loc: tuple[object, ...]) -> str:
    """Where an unknown field sits (``body[field 3]``) — never its name, which is input."""
    parent: object = body
    for part in loc[1:-1]:
        if isinstance(parent, dict) and isinstance(part, str):
            parent = parent.get(part)
        elif isinstance(parent, list) and isinstance(part, int) and 0 <= part < len(parent):
            parent = parent[part]
        else:
            parent = None
    names = list(parent) if isinstance(parent, dict) else []
    where = ".".join(str(p) for p in loc[:-1])
    position = names.index(loc[-1]) + 1 if loc[-1] in names else "?"
    return f"{where}[field {position}]"


def _describe(item: Any, body: object) -> dict[str, str]:
    loc = tuple(item.get("loc", ()))
    if item.get("type") == "extra_forbidden" and loc:
        # The name of an unknown field is the attacker's text: give its position instead.
        return {
            "field": _field_position(body, loc),
            "type": "extra_forbidden",
            "message": "unknown field",
        }
    return {
        "field": ".".join(str(p) for p in loc if p != "body"),
        "type": item.get("type", ""),
        "message": item.get("msg", ""),
    }


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    # FastAPI's default 422 body repeats the submitted input, which may be a value.
    assert isinstance(exc, RequestValidationError)
    errors = [_describe(item, exc.body) for item in exc.errors()]
    malformed = any(e["type"] == "json_invalid" for e in errors)
    code = ErrorCode.INVALID_MESSAGE if malformed else ErrorCode.INVALID_REQUEST
    unknown = sum(e["type"] == "extra_forbidden" for e in errors)
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    if malformed:
        message = "request body is not valid JSON"
    elif unknown:
        plural = "s" if unknown > 1 else ""
        message = f"request body has {unknown} unknown field{plural} (extra fields are refused)"
    else:
        message = f"{first['field'] or 'request'}: {first['message']}"
    return error_response(
        ErrorBody(code=code, message=message, details={"errors": errors}),
        status=400 if malformed else 422,
    )


async def _on_model(_: Request, exc: Exception) -> JSONResponse:
    # A contract built inside a route refused a value (e.g. a naive timestamp).
    assert isinstance(exc, ValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "type": e["type"], "message": e["msg"]}
        for e in exc.errors(include_input=False, include_url=False, include_context=False)
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    return error_response(
        ErrorBody(
            code=ErrorCode.INVALID_REQUEST,
            message=f"{first['field'] or 'request'}: {first['message']}",
            details={"errors": errors},
        ),
        status=422,
    )


async def _on_http(_: Request, exc: Exception) -> JSONResponse:
    # The API answers only with the statuses ARCHITECTURE.md lists: an unknown path or a
    # method a path does not support is "no such operation" (404); anything else is 400.
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        body = ErrorBody(
            code=ErrorCode.NOT_FOUND,
            message="no such operation" if exc.status_code == 405 else str(exc.detail),
        )
        return error_response(body, status=404)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        # FastAPI could not parse the body: Python's own text (e.g. its integer digit limit)
        # stays out of the answer.
        body = ErrorBody(
            code=ErrorCode.INVALID_MESSAGE,
            message="request body could not be parsed (invalid JSON, or a number too large)",
        )
        return error_response(body, status=400)
    status = exc.status_code if exc.status_code in _DESCRIPTIONS else 400
    return error_response(
        ErrorBody(code=ErrorCode.INVALID_REQUEST, message=str(exc.detail)), status=status
    )


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected gateway failure: %s", type(exc).__name__)
    return error_response(
        ErrorBody(code=ErrorCode.INTERNAL, message="internal error", details={}), status=503
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register one handler per error base."""
    app.add_exception_handler(SigilError, _on_sigil)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(ValidationError, _on_model)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
