"""What the redactor's integration tests share: the full stack, renders and log reads."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from faststream.nats import NatsBroker

from sigil_shared import operations as ops
from sigil_shared.bus import request
from sigil_shared.contracts import (
    Actor,
    LogEntry,
    LogPageReply,
    LogPageRequest,
    TemplateRenderRequest,
)
from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, bus_as
from tests.integration.stack import running_stack

MASK = "********"

Stack = tuple[SecretsClient, NatsBroker, NatsBroker]


@asynccontextmanager
async def full_stack(nats_server: NatsFixture) -> AsyncIterator[Stack]:
    """Secrets, renderer and redactor, with the gateway's and the platform's bus users."""
    async with (
        running_stack(nats_server, services=("secrets", "renderer", "redactor")),
        bus_as(nats_server, "gateway") as gateway,
        bus_as(nats_server, "platform") as platform,
    ):
        yield SecretsClient(gateway), gateway, platform


async def page(broker: NatsBroker, who: Actor, deployment: str, **kw: object) -> LogPageReply:
    """One page of a deployment's redacted records."""
    return await request(
        broker,
        ops.LOGS_PAGE,
        LogPageRequest(actor=who, request_id="p", deployment_id=deployment, **kw),  # type: ignore[arg-type]
        timeout=20,
    )


async def all_records(
    broker: NatsBroker, who: Actor, deployment: str, count: int
) -> list[LogEntry]:
    """Every record, oldest first, read page by page with the ``after`` cursor."""
    items: list[LogEntry] = []
    after = 0
    for _ in range(300):
        reply = await page(broker, who, deployment, after=after, limit=1000)
        items.extend(reply.items)
        after = reply.next_after or after
        if len(items) >= count:
            return items
        if not reply.more:
            await asyncio.sleep(0.05)
    pytest.fail(f"only {len(items)} of {count} redacted records arrived")


async def render(
    platform: NatsBroker, org: str, deployment: str, env: str, customer: str | None = None
) -> None:
    """Render revision 1 of a deployment (its receipt decides the masking scope)."""
    await request(
        platform,
        ops.TEMPLATE_RENDER,
        TemplateRenderRequest(
            organization_id=org,
            customer_organization_id=customer,
            deployment_id=deployment,
            revision=1,
            env_file=env,
        ),
        timeout=20,
    )
