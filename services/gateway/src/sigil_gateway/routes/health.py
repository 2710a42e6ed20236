"""Liveness and readiness at the root (not under ``/api/v1``)."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sigil_gateway.deps import BusDep
from sigil_shared import subjects
from sigil_shared.bus import bus_check, request
from sigil_shared.contracts import HealthReply, HealthRequest
from sigil_shared.contracts.health import DEGRADED, check_ready
from sigil_shared.errors import SigilError
from sigil_shared.operations import HEALTH_REDACTOR, HEALTH_RENDERER, HEALTH_SECRETS, Command

router = APIRouter(tags=["health"])

_PROBE_TIMEOUT = 1.0
_HEALTH: dict[str, Command[HealthRequest, HealthReply]] = {
    op.owner: op for op in (HEALTH_SECRETS, HEALTH_RENDERER, HEALTH_REDACTOR)
}


@router.get("/healthz", summary="Liveness: the gateway process answers")
async def healthz() -> dict[str, str]:
    """Always 200 while the process serves HTTP."""
    return {"status": "ok"}


async def _probe(bus: BusDep, service: str) -> str:
    try:
        reply = await request(bus, _HEALTH[service], HealthRequest(), timeout=_PROBE_TIMEOUT)
    except SigilError as err:
        return err.message
    if reply.ready:
        degraded = [f"{k}={v.removeprefix(DEGRADED)}" for k, v in reply.checks.items() if v != "ok"]
        return DEGRADED + ", ".join(degraded) if degraded else "ok"
    return "not ready: " + ", ".join(f"{k}={v}" for k, v in reply.checks.items() if v != "ok")


@router.get(
    "/readyz",
    summary="Readiness: NATS connected and every service answers health",
    responses={503: {"description": "Something is not ready; details.checks says what"}},
)
async def readyz(bus: BusDep) -> JSONResponse:
    """200 with every check ``ok`` or degraded; otherwise 503 naming what is missing."""
    checks = await bus_check(bus)
    if checks["nats"] == "ok":
        results = await asyncio.gather(*(_probe(bus, svc) for svc in subjects.BUS_SERVICES))
        checks.update(dict(zip(subjects.BUS_SERVICES, results, strict=True)))
    else:
        checks.update(dict.fromkeys(subjects.BUS_SERVICES, "unknown: NATS not connected"))
    # A degraded service stays ready (it serves everyone else); the body still names it.
    failing = sorted(name for name, state in checks.items() if not check_ready(state))
    if not failing:
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(
        {
            "error": {
                "code": "unavailable",
                "message": "not ready: " + ", ".join(failing),
                "details": {"checks": checks},
            }
        },
        status_code=503,
    )
