"""``/api/v1/deployments/{id}/logs``: redacted logs — a page, a text export, a live tail."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from sigil_gateway.deps import ActorDep, BusDep, RequestIdDep, SettingsDep
from sigil_gateway.errors import API_ERRORS
from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import Actor, LogPageReply, LogPageRequest, LogRecord
from sigil_shared.contracts.logs import MAX_SEQUENCE, stored_records
from sigil_shared.ids import ID_PATTERN

router = APIRouter(prefix="/api/v1/deployments", tags=["logs"], responses=API_ERRORS)
DeploymentId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
EXPORT_MAX_LINES = 100_000
TAIL_KEEPALIVE_SECONDS = 15.0


async def _page(bus: BusDep, settings: SettingsDep, message: LogPageRequest) -> LogPageReply:
    return await request(bus, ops.LOGS_PAGE, message, timeout=settings.request_timeout)


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
    """Newest first before ``before`` (default: the latest), or oldest first after ``after``.

    A page holds at most ``limit`` records and stays within the bus's message size, so
    large records give shorter pages: continue while ``more`` is true, with
    ``before=nextBefore`` (older) or ``after=nextAfter`` (newer).
    """
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


async def _export(
    bus: BusDep, settings: SettingsDep, first: LogPageReply, request: LogPageRequest
) -> AsyncIterator[bytes]:
    page, sent = first, 0
    while True:
        chunk = "".join(_line(e.record) + "\n" for e in page.items[: EXPORT_MAX_LINES - sent])
        sent += len(page.items)
        yield chunk.encode("utf-8", "replace")
        if not page.more or page.next_after is None or sent >= EXPORT_MAX_LINES:
            return
        request = request.model_copy(update={"after": page.next_after})
        page = await _page(bus, settings, request)


@router.get(
    "/{deployment_id}/logs/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}}},
    summary="Download redacted logs as text",
)
async def export_logs(
    deployment_id: DeploymentId,
    actor: ActorDep,
    bus: BusDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
) -> StreamingResponse:
    """Every stored line (up to 100,000), oldest first, one per line, streamed page by page
    (pages are bounded in bytes, so records of any size stream through)."""
    request = LogPageRequest(
        actor=actor, request_id=request_id, deployment_id=deployment_id, after=0, limit=1000
    )
    # The first page is read before the response starts: scope and bus errors are answered
    # as errors, not as a cut download.
    first = await _page(bus, settings, request)
    return StreamingResponse(
        _export(bus, settings, first, request),
        media_type="text/plain; charset=utf-8",
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
            # A stored message is one record or a batch of them: one event per record.
            try:
                records = stored_records(data)
            except ValueError:  # pydantic's ValidationError is a ValueError too
                continue
            for record in records:
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
