"""``/api/v1/deployments/{id}/logs``: redacted logs — a page, a text export, a live tail."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

from sigil_gateway.deps import ActorDep, BusDep, RequestIdDep, SettingsDep
from sigil_gateway.errors import API_ERRORS
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import Actor, LogPageReply, LogPageRequest, LogRecord
from sigil_shared.contracts.logs import MAX_SEQUENCE
from sigil_shared.ids import ID_PATTERN

router = APIRouter(prefix="/api/v1/deployments", tags=["logs"], responses=API_ERRORS)
DeploymentId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
EXPORT_MAX_LINES = 100_000
TAIL_KEEPALIVE_SECONDS = 15.0


async def _page(bus: BusDep, settings: SettingsDep, message: LogPageRequest) -> LogPageReply:
    return await request(
        bus, subjects.LOGS_PAGE, message, LogPageReply, timeout=settings.request_timeout
    )


@router.get("/{deployment_id}/logs", response_model=LogPageReply, summary="A page of logs")
async def page_logs(
    deployment_id: DeploymentId,
    actor: ActorDep,
    bus: BusDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_SEQUENCE)] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQUENCE)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LogPageReply:
    """Newest first before ``before`` (default: the latest), or oldest first after ``after``."""
    return await _page(
        bus,
        settings,
        LogPageRequest(
            actor=actor,
            request_id=request_id,
            deployment_id=deployment_id,
            before=before,
            after=after,
            limit=limit,
        ),
    )


def _line(record: LogRecord) -> str:
    parts = [record.timestamp.isoformat()]
    if record.severity:
        parts.append(record.severity)
    if record.resource:
        parts.append(record.resource)
    return " ".join(parts) + " " + record.body.replace("\n", "\n\t")


@router.get(
    "/{deployment_id}/logs/export",
    response_class=PlainTextResponse,
    summary="Download redacted logs as text",
)
async def export_logs(
    deployment_id: DeploymentId,
    actor: ActorDep,
    bus: BusDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
) -> PlainTextResponse:
    """Every stored line (up to 100,000), oldest first, one per line."""
    lines: list[str] = []
    after = 0
    while len(lines) < EXPORT_MAX_LINES:
        page = await _page(
            bus,
            settings,
            LogPageRequest(
                actor=actor,
                request_id=request_id,
                deployment_id=deployment_id,
                after=after,
                limit=1000,
            ),
        )
        lines.extend(_line(e.record) for e in page.items)
        if len(page.items) < 1000 or page.next_after is None:
            break
        after = page.next_after
    return PlainTextResponse(
        "\n".join(lines) + ("\n" if lines else ""),
        headers={"Content-Disposition": f'attachment; filename="{deployment_id}.log"'},
    )


async def _tail(
    http: Request, bus: BusDep, actor: Actor, deployment_id: str
) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)

    async def on_message(msg: object) -> None:
        data = getattr(msg, "data", b"")
        if not queue.full():
            queue.put_nowait(data)

    subscription = await bus.connection.subscribe(
        subjects.logs_redacted(actor.organization_id, deployment_id), cb=on_message
    )
    try:
        yield b": tail started\n\n"
        while not await http.is_disconnected():
            try:
                data = await asyncio.wait_for(queue.get(), TAIL_KEEPALIVE_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            record = LogRecord.model_validate_json(data)
            yield f"data: {json.dumps(record.model_dump(mode='json'))}\n\n".encode()
    finally:
        await subscription.unsubscribe()


@router.get("/{deployment_id}/logs/stream", summary="Tail redacted logs (server-sent events)")
async def stream_logs(
    deployment_id: DeploymentId,
    http: Request,
    actor: ActorDep,
    bus: BusDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
) -> StreamingResponse:
    """Each new redacted record as an SSE ``data:`` event (JSON)."""
    # Authorize first: the same scope check as a page read (404 outside the scope).
    await _page(
        bus,
        settings,
        LogPageRequest(
            actor=actor,
            request_id=request_id,
            deployment_id=deployment_id,
            limit=1,
        ),
    )
    return StreamingResponse(
        _tail(http, bus, actor, deployment_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
