"""In-process services on the real nats-server, and the gateway behind an ASGI client."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from faststream import FastStream

from sigil_gateway.app import create_app as create_gateway
from sigil_redactor.app import create_app as create_redactor
from sigil_renderer.app import create_app as create_renderer
from sigil_secrets.app import create_app as create_secrets
from sigil_shared.settings import (
    GatewaySettings,
    RedactorSettings,
    RendererSettings,
    SecretsSettings,
)
from tests.helpers import NatsFixture


@dataclass
class Stack:
    """Handles on a running in-process stack."""

    http: httpx.AsyncClient
    apps: dict[str, FastStream] = field(default_factory=dict)


def service_settings(nats: NatsFixture, service: str, **overrides: Any) -> Any:
    """Settings of one service as its own NATS user."""
    creds = nats.creds(service)
    if service == "secrets":
        return SecretsSettings(
            **{"kek_file": nats.data.kek_file, "audit_key_file": nats.data.audit_key_file}
            | creds
            | overrides
        )
    if service == "renderer":
        return RendererSettings(**creds, **overrides)
    if service == "redactor":
        return RedactorSettings(**creds, **overrides)
    return GatewaySettings(**({"jwt_key_file": nats.data.jwt_key_file} | creds | overrides))


@asynccontextmanager
async def running_stack(
    nats: NatsFixture,
    *,
    services: tuple[str, ...] = ("secrets", "renderer", "redactor"),
    overrides: dict[str, dict[str, Any]] | None = None,
) -> AsyncIterator[Stack]:
    """Start the chosen bus services and the gateway; stop them all on exit."""
    factories = {
        "secrets": create_secrets,
        "renderer": create_renderer,
        "redactor": create_redactor,
    }
    overrides = overrides or {}
    async with AsyncExitStack() as stack:
        apps: dict[str, FastStream] = {}
        for name in services:
            settings = service_settings(nats, name, **overrides.get(name, {}))
            app = factories[name](settings)
            await stack.enter_async_context(app)
            apps[name] = app
        gateway = create_gateway(service_settings(nats, "gateway", **overrides.get("gateway", {})))
        await stack.enter_async_context(gateway.router.lifespan_context(gateway))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://sigil.test"
        )
        await stack.enter_async_context(client)
        yield Stack(http=client, apps=apps)
