"""Wiring of the redactor service: the only place that builds its broker and handlers."""

import logging

from faststream import FastStream

from sigil_shared.bus import bus_check, create_broker, register_health
from sigil_shared.settings import RedactorSettings


def create_app(settings: RedactorSettings) -> FastStream:
    """Build the redactor's FastStream app."""
    broker = create_broker(settings, service="redactor")

    async def check() -> dict[str, str]:
        return await bus_check(broker)

    register_health(broker, "redactor", check)
    return FastStream(broker, logger=logging.getLogger("sigil.redactor"))
