"""Wiring of the renderer service: the only place that builds its broker and handlers."""

import logging

from faststream import FastStream

from sigil_shared.bus import bus_check, create_broker, register_health
from sigil_shared.settings import RendererSettings


def create_app(settings: RendererSettings) -> FastStream:
    """Build the renderer's FastStream app."""
    broker = create_broker(settings, service="renderer")

    async def check() -> dict[str, str]:
        return await bus_check(broker)

    register_health(broker, "renderer", check)
    return FastStream(broker, logger=logging.getLogger("sigil.renderer"))
