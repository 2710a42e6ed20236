"""``/api/v1/templates/validate``: dry-run a deployment's templates in the caller's scope."""

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError

from sigil_gateway.deps import ActorDep, BusDep, RequestIdDep, SettingsDep
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
    actor: ActorDep,
    bus: BusDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
) -> Response:
    """Errors with file, line and column, referenced and missing keys; never a value."""
    if body.env_file is None and body.values_yaml is None:
        raise RequestValidationError(
            [{"loc": ("body",), "type": "missing", "msg": "give envFile, valuesYaml or both"}]
        )
    return await relay(
        bus,
        ops.TEMPLATE_VALIDATE,
        TemplateValidateRequest(
            actor=actor,
            request_id=request_id,
            env_file=body.env_file,
            values_yaml=body.values_yaml,
            customer_organization_id=body.customer_organization_id,
        ),
        timeout=settings.request_timeout,
    )
