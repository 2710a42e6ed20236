"""``python -m sigil_shared.wait_streams SERVICE``: wait until the setup step has made its streams.

A service checks its streams once at start and never creates them (the setup step's job),
so a pod that starts before the setup job has run would stay not ready. Kubernetes runs this
as the service pod's init container, with the service's own NATS user (it only reads stream
info), so the service container starts once every stream it uses is as declared.
"""

import asyncio
import sys
import time

import nats
from nats.errors import Error as NatsError

from sigil_shared import subjects
from sigil_shared.settings import BusSettings, load_settings
from sigil_shared.streams import check_streams

_PAUSE = 2.0
_DEFAULT_TIMEOUT = 600.0


async def wait_for_streams(settings: BusSettings, service: str, *, timeout: float) -> list[str]:
    """Poll until every stream ``service`` uses is ready; returns what is still wrong."""
    deadline = time.monotonic() + timeout
    problems = ["NATS not reached"]
    while True:
        try:
            problems = await _problems(settings, service)
        except (NatsError, OSError, TimeoutError) as err:
            problems = [f"NATS not reached ({type(err).__name__})"]
        if not problems or time.monotonic() + _PAUSE > deadline:
            return problems
        await asyncio.sleep(_PAUSE)


async def _problems(settings: BusSettings, service: str) -> list[str]:
    user = settings.nats_user
    password = settings.nats_password.get_secret_value() if settings.nats_password else None
    nc = await nats.connect(
        settings.nats_servers,
        user=user,
        password=password,
        name=f"sigil-wait-{service}",
        inbox_prefix=subjects.inbox_prefix(user) if user else "_INBOX",
        allow_reconnect=False,
        connect_timeout=3,
    )
    try:
        checks = await check_streams(nc.jetstream(), service)
    finally:
        await nc.close()
    return [f"{name}: {state}" for name, state in checks.items() if state != "ok"]


def main() -> None:
    """Exit 0 once the streams are ready; 1 naming what is missing after the timeout."""
    args = sys.argv[1:]
    try:
        timeout = float(args[1]) if len(args) == 2 else _DEFAULT_TIMEOUT
    except ValueError:
        args = []
    if len(args) not in (1, 2) or args[0] not in subjects.BUS_SERVICES:
        print("usage: python -m sigil_shared.wait_streams secrets|renderer|redactor [SECONDS]")  # noqa: T201
        raise SystemExit(2)
    settings = load_settings(BusSettings, f"sigil-wait-{args[0]}")
    problems = asyncio.run(wait_for_streams(settings, args[0], timeout=timeout))
    for problem in problems:
        print(f"sigil: {problem}", file=sys.stderr)  # noqa: T201
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
