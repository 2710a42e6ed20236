"""FastAPI dependencies as ``Annotated`` aliases.

Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency in a thread pool,
one round trip per dependency per request.
"""

import uuid
from typing import Annotated

from fastapi import Depends, Header, Request
from faststream.nats import NatsBroker

from sigil_gateway.auth import TokenVerifier
from sigil_shared.contracts import Actor
from sigil_shared.settings import GatewaySettings


async def get_broker(request: Request) -> NatsBroker:
    """The gateway's bus connection."""
    broker: NatsBroker = request.app.state.broker
    return broker


async def get_settings(request: Request) -> GatewaySettings:
    """The gateway's settings."""
    settings: GatewaySettings = request.app.state.settings
    return settings


async def get_actor(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Actor:
    """The authenticated caller (401 otherwise); verified tokens are cached until expiry."""
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.actor_async(authorization)


async def get_request_id(x_request_id: Annotated[str | None, Header()] = None) -> str:
    """The caller's X-Request-Id (if sane) or a new one; it travels to the audit trail."""
    if x_request_id and 0 < len(x_request_id) <= 128 and x_request_id.isprintable():
        return x_request_id
    return uuid.uuid4().hex


BusDep = Annotated[NatsBroker, Depends(get_broker)]
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ActorDep = Annotated[Actor, Depends(get_actor)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
