"""``/api/v1/templates/validate``: dry-run a deployment's templates in the caller's scope."""

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError

from sigil_gateway.deps import CallDep
from sigil_gateway.errors import API_ERRORS
from sigil_gateway.relay import relay
from sigil_shared import operations as ops
from sigil_shared.contracts import (
    TemplateValidateBody,
    TemplateValidateReply,
    TemplateValidateRequest,
)

router = APIRouter(prefix="/api/v1/templates", tags=["templates"], responses=API_ERRORS)


@router.post("/validate", response_model=TemplateValidateReply, summary="Check templates")
async def validate_templates(
    body: TemplateValidateBody,
    call: CallDep,
) -> Response:
    """Errors with file, line and column, referenced and missing keys; never a value."""
    if body.env_file is None and body.values_yaml is None:
        raise RequestValidationError(
            [{"loc": ("body",), "type": "missing", "msg": "give envFile, valuesYaml or both"}]
        )
    return await relay(
        call.bus,
        ops.TEMPLATE_VALIDATE,
        TemplateValidateRequest(
            actor=call.actor,
            request_id=call.request_id,
            env_file=body.env_file,
            values_yaml=body.values_yaml,
            customer_organization_id=body.customer_organization_id,
        ),
        timeout=call.settings.request_timeout,
    )
