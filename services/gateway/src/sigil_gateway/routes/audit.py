"""``/api/v1/audit``: the audit trail of the caller's scope, for admins."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from sigil_gateway.deps import CallDep
from sigil_gateway.errors import API_ERRORS
from sigil_gateway.relay import relay
from sigil_shared import operations as ops
from sigil_shared.contracts import AuditQueryReply, AuditQueryRequest

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=API_ERRORS)


@router.get("", response_model=AuditQueryReply, summary="Audit events (admins)")
async def audit_events(
    call: CallDep,
    key: Annotated[str | None, Query(max_length=1024)] = None,
    actor_id: Annotated[str | None, Query(alias="actor", max_length=256)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    # The cursor is a stream sequence this API returned: digits only.
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^[0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Oldest first; filter by key, actor, action and time range; page with ``cursor``."""
    return await relay(
        call.bus,
        ops.AUDIT_QUERY,
        AuditQueryRequest(
            actor=call.actor,
            request_id=call.request_id,
            key=key,
            actor_id=actor_id,
            action=action,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        ),
        timeout=call.settings.request_timeout,
    )
