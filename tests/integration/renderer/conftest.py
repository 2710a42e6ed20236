"""Fixtures: secrets + renderer on the session's nats-server; clients as gateway and platform."""

from collections.abc import AsyncIterator

import pytest
from faststream.nats import NatsBroker

from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, bus_as
from tests.integration.stack import running_stack


@pytest.fixture
async def services(nats_server: NatsFixture) -> AsyncIterator[None]:
    async with running_stack(nats_server, services=("secrets", "renderer")):
        yield


@pytest.fixture
async def client(nats_server: NatsFixture, services: None) -> AsyncIterator[SecretsClient]:
    """Commands as the gateway user."""
    del services
    async with bus_as(nats_server, "gateway") as broker:
        yield SecretsClient(broker)


@pytest.fixture
async def platform(nats_server: NatsFixture, services: None) -> AsyncIterator[NatsBroker]:
    """Render requests as the platform user."""
    del services
    async with bus_as(nats_server, "platform") as broker:
        yield broker


@pytest.fixture
def org(unique: str) -> str:
    return f"rorg-{unique}"
