"""``python -m sigil_shared.healthcheck SERVICE``: exit 0 when the service answers ready.

Used by container health checks: asks ``sigil.health.<service>`` with the service's own
NATS credentials from its ``SIGIL_*`` environment.
"""

import asyncio
import sys

from sigil_shared import subjects
from sigil_shared.bus import create_broker, request
from sigil_shared.contracts import HealthReply, HealthRequest
from sigil_shared.errors import SigilError
from sigil_shared.operations import HEALTH_REDACTOR, HEALTH_RENDERER, HEALTH_SECRETS, Command
from sigil_shared.settings import BusSettings

_HEALTH: dict[str, Command[HealthRequest, HealthReply]] = {
    op.owner: op for op in (HEALTH_SECRETS, HEALTH_RENDERER, HEALTH_REDACTOR)
}


async def _check(service: str) -> bool:
    broker = create_broker(BusSettings(), service=f"{service}-healthcheck")
    try:
        await broker.connect()
        reply = await request(broker, _HEALTH[service], HealthRequest(), timeout=3)
    except (SigilError, OSError, TimeoutError):
        return False
    finally:
        await broker.stop()
    return reply.ready


def main() -> None:
    """Exit status 0 if ready, 1 otherwise."""
    if len(sys.argv) != 2 or sys.argv[1] not in subjects.BUS_SERVICES:
        print("usage: python -m sigil_shared.healthcheck secrets|renderer|redactor")  # noqa: T201
        raise SystemExit(2)
    raise SystemExit(0 if asyncio.run(_check(sys.argv[1])) else 1)


if __name__ == "__main__":
    main()
