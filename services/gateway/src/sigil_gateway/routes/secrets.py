"""``/api/v1/secrets``: metadata of the caller's scope; values go in, never out."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from sigil_gateway.deps import CallDep
from sigil_gateway.errors import API_ERRORS
from sigil_gateway.relay import data_bytes, relay, send
from sigil_shared import operations as ops
from sigil_shared.contracts import (
    SecretCreateBody,
    SecretCreateRequest,
    SecretDeleteRequest,
    SecretDetail,
    SecretGetRequest,
    SecretListReply,
    SecretListRequest,
    SecretMetadata,
    SecretUpdateBody,
    SecretUpdateReply,
    SecretUpdateRequest,
)
from sigil_shared.ids import ID_PATTERN

router = APIRouter(prefix="/api/v1/secrets", tags=["secrets"], responses=API_ERRORS)
SecretId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64, description="Secret id")]
#: Cursors are what this API returned: base64url, bounded (so no decoder can be sent a
#: structure deep enough to exhaust it).
Cursor = Annotated[str | None, Query(max_length=512, pattern=r"^[A-Za-z0-9_-]+$")]
CustomerFilter = Annotated[
    str | None, Query(alias="customerOrganizationId", pattern=ID_PATTERN, max_length=64)
]


@router.get("", response_model=SecretListReply, summary="List secrets of your scope")
async def list_secrets(
    call: CallDep,
    customer_organization_id: CustomerFilter = None,
    vendor_only: Annotated[bool, Query(alias="vendorOnly")] = False,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Metadata sorted by key; vendors may filter by customer organization."""
    return await relay(
        call.bus,
        ops.SECRET_LIST,
        SecretListRequest(
            actor=call.actor,
            request_id=call.request_id,
            customer_organization_id=customer_organization_id,
            vendor_only=vendor_only,
            cursor=cursor,
            limit=limit,
        ),
        timeout=call.settings.request_timeout,
    )


@router.post("", status_code=201, response_model=SecretMetadata, summary="Create a secret")
async def create_secret(
    body: SecretCreateBody,
    call: CallDep,
) -> Response:
    """read_write and admin; 409 when the key exists in the scope."""
    return await relay(
        call.bus,
        ops.SECRET_CREATE,
        SecretCreateRequest(
            actor=call.actor,
            request_id=call.request_id,
            key=body.key,
            value=body.value,
            customer_organization_id=body.customer_organization_id,
        ),
        timeout=call.settings.request_timeout,
        status=201,
    )


@router.get("/{secret_id}", response_model=SecretDetail, summary="Metadata and versions")
async def get_secret(
    secret_id: SecretId,
    call: CallDep,
) -> Response:
    """Never the value; 404 outside your scope."""
    return await relay(
        call.bus,
        ops.SECRET_GET,
        SecretGetRequest(actor=call.actor, request_id=call.request_id, id=secret_id),
        timeout=call.settings.request_timeout,
    )


@router.put("/{secret_id}", response_model=SecretUpdateReply, summary="Store a new value")
async def update_secret(
    secret_id: SecretId,
    body: SecretUpdateBody,
    call: CallDep,
) -> Response:
    """Version + 1; lists the live deployments still rendered with older values."""
    return await relay(
        call.bus,
        ops.SECRET_UPDATE,
        SecretUpdateRequest(
            actor=call.actor,
            request_id=call.request_id,
            id=secret_id,
            value=body.value,
            expected_version=body.expected_version,
        ),
        timeout=call.settings.request_timeout,
    )


@router.delete(
    "/{secret_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a secret",
    responses={409: {"description": "Live deployments use it; details.affectedDeployments"}},
)
async def delete_secret(
    secret_id: SecretId,
    call: CallDep,
    force: bool = False,
) -> Response:
    """409 while a live deployment revision uses it, unless ``?force=true``."""
    reply = await send(
        call.bus,
        ops.SECRET_DELETE,
        SecretDeleteRequest(
            actor=call.actor, request_id=call.request_id, id=secret_id, force=force
        ),
        timeout=call.settings.request_timeout,
    )
    data_bytes(reply, ops.SECRET_DELETE)  # raises the remote error
    return Response(status_code=204)
