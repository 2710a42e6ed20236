"""FastAPI dependencies as ``Annotated`` aliases.

Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency in a thread pool,
one round trip per dependency per request. ``CallDep`` gathers what a command route needs
in one dependency that reads its headers itself: FastAPI solves each dependency and each
declared header parameter per request, a third of a cheap request's CPU with four of them.
"""

import uuid
from dataclasses import dataclass
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
    return _request_id(x_request_id)


def _request_id(given: str | None) -> str:
    if given and 0 < len(given) <= 128 and given.isprintable():
        return given
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Call:
    """Who calls, over which bus, with which settings and request id."""

    actor: Actor
    bus: NatsBroker
    settings: GatewaySettings
    request_id: str


async def get_call(request: Request) -> Call:
    """The authenticated caller (401 otherwise) and the gateway's handles, in one step."""
    state = request.app.state
    verifier: TokenVerifier = state.verifier
    headers = request.headers
    actor = await verifier.actor_async(headers.get("authorization"))
    return Call(
        actor=actor,
        bus=state.broker,
        settings=state.settings,
        request_id=_request_id(headers.get("x-request-id")),
    )


BusDep = Annotated[NatsBroker, Depends(get_broker)]
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ActorDep = Annotated[Actor, Depends(get_actor)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
CallDep = Annotated[Call, Depends(get_call)]
