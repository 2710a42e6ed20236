"""``python -m sigil_shared.setup``: the setup step that creates and updates every stream.

Runs with the ``bootstrap`` NATS user (the only one allowed to manage JetStream) before
the services start: ``sigil up`` calls it in-process, production runs it as a one-shot
job (a compose service, a Helm hook Job) with ``SIGIL_NATS_URL``, ``SIGIL_NATS_USER=bootstrap``,
``SIGIL_NATS_PASSWORD`` and ``SIGIL_JS_REPLICAS``. Running it again is safe.
"""

import asyncio
import sys
import time

import nats
from nats.errors import Error as NatsError
from nats.js.errors import ServiceUnavailableError

from sigil_shared import subjects
from sigil_shared.settings import SetupSettings, load_settings
from sigil_shared.streams import StreamLimits, bootstrap

#: A fresh cluster elects its JetStream meta leader a moment after the nodes are ready.
_LEADER_WAIT = 30.0


async def setup_streams(settings: SetupSettings) -> list[str]:
    """Create or update every declared stream and bucket; returns what changed."""
    user = settings.nats_user
    password = settings.nats_password.get_secret_value() if settings.nats_password else None
    nc = await nats.connect(
        settings.nats_servers,
        user=user,
        password=password,
        name="sigil-setup",
        inbox_prefix=subjects.inbox_prefix(user) if user else "_INBOX",
        max_reconnect_attempts=5,
    )
    limits = StreamLimits(
        raw_max_age=settings.raw_max_age,
        redacted_max_age=settings.redacted_max_age,
        redacted_max_bytes=settings.redacted_max_bytes,
    )
    deadline = time.monotonic() + _LEADER_WAIT
    try:
        while True:
            try:
                return await bootstrap(nc.jetstream(), replicas=settings.js_replicas, limits=limits)
            except (ServiceUnavailableError, TimeoutError, NatsError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await nc.close()


def main() -> None:
    """Exit 0 once every stream is as declared; 1 with the reason otherwise."""
    settings = load_settings(SetupSettings, "sigil-setup")
    try:
        done = asyncio.run(setup_streams(settings))
    except (NatsError, OSError, TimeoutError) as err:
        print(f"sigil-setup: streams not set up: {type(err).__name__}: {err}", file=sys.stderr)  # noqa: T201
        raise SystemExit(1) from err
    print("sigil-setup: " + ("; ".join(done) if done else "every stream as declared"))  # noqa: T201


if __name__ == "__main__":
    main()
