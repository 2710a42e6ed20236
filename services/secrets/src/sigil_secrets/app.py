"""Wiring of the secrets service: the only place that builds its broker and handlers."""

import logging

from faststream import FastStream

from sigil_shared.bus import bus_check, create_broker, register_health
from sigil_shared.settings import SecretsSettings


def create_app(settings: SecretsSettings) -> FastStream:
    """Build the secrets's FastStream app."""
    broker = create_broker(settings, service="secrets")

    async def check() -> dict[str, str]:
        return await bus_check(broker)

    register_health(broker, "secrets", check)
    return FastStream(broker, logger=logging.getLogger("sigil.secrets"))
