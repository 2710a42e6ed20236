"""Fixtures: the secrets service on the session's nats-server, and clients as each user."""

from collections.abc import AsyncIterator

import pytest

from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, bus_as
from tests.integration.stack import running_stack


@pytest.fixture
async def secrets_service(nats_server: NatsFixture) -> AsyncIterator[None]:
    """The secrets service (and the renderer it asks about deployments) on the real bus."""
    async with running_stack(nats_server, services=("secrets", "renderer")):
        yield


@pytest.fixture
async def client(nats_server: NatsFixture, secrets_service: None) -> AsyncIterator[SecretsClient]:
    """Commands as the gateway's NATS user."""
    del secrets_service
    async with bus_as(nats_server, "gateway") as broker:
        yield SecretsClient(broker)


@pytest.fixture
def org(unique: str) -> str:
    """A fresh organization id per test."""
    return f"org-{unique}"
