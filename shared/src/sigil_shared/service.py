"""The process boundary every bus service shares: settings, logging, telemetry, run."""

import gc
from collections.abc import Callable
from typing import TypeVar

import uvloop
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
    settle_garbage_collector()
    uvloop.run(app.run())


def settle_garbage_collector() -> None:
    """Keep the collector off the request path once a process has loaded.

    Everything imported and built at start lives as long as the process; ``gc.freeze``
    moves it out of the collector's view, so a full collection no longer walks every
    module, class and pydantic schema (the pauses that made the p99 tail). Fewer, larger
    young-generation runs suit request handling, whose garbage is short-lived.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
