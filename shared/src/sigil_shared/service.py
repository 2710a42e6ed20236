"""The process boundary every bus service shares: settings, logging, telemetry, run."""

import asyncio
from collections.abc import Callable
from typing import TypeVar

from faststream import FastStream

from sigil_shared.logs import configure_logging
from sigil_shared.settings import BusSettings, load_settings
from sigil_shared.telemetry import configure_telemetry

SettingsT = TypeVar("SettingsT", bound=BusSettings)


def run_service(
    settings_cls: type[SettingsT],
    create_app: Callable[[SettingsT], FastStream],
    *,
    service: str,
) -> None:
    """Entry point of ``python -m sigil_<service>``: check settings, serve until signalled."""
    settings = load_settings(settings_cls, f"sigil-{service}")
    configure_logging(settings.log_level, service=service, fmt=settings.log_format)
    configure_telemetry(f"sigil-{service}")
    app = create_app(settings)
    asyncio.run(app.run())
