"""FastAPI dependencies as ``Annotated`` aliases."""

from typing import Annotated

from fastapi import Depends, Request
from faststream.nats import NatsBroker

from sigil_shared.settings import GatewaySettings


def get_broker(request: Request) -> NatsBroker:
    """The gateway's bus connection."""
    broker: NatsBroker = request.app.state.broker
    return broker


def get_settings(request: Request) -> GatewaySettings:
    """The gateway's settings."""
    settings: GatewaySettings = request.app.state.settings
    return settings


BusDep = Annotated[NatsBroker, Depends(get_broker)]
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
