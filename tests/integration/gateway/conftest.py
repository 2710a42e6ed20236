"""Fixtures: the whole stack on the session's nats-server, an HTTP client and tokens."""

from collections.abc import AsyncIterator, Callable

import pytest

from sigil_cli.tokens import issue_token
from tests.helpers import NatsFixture
from tests.integration.stack import Stack, running_stack

TokenFactory = Callable[..., dict[str, str]]


@pytest.fixture
async def stack(nats_server: NatsFixture) -> AsyncIterator[Stack]:
    async with running_stack(nats_server) as running:
        yield running


@pytest.fixture
def auth(nats_server: NatsFixture) -> TokenFactory:
    """``auth(org, role, customer=None, sub="u1")`` -> Authorization header."""
    key = nats_server.data.jwt_key_file.read_text().strip()

    def make(
        org: str, role: str = "admin", customer: str | None = None, sub: str = "u1", ttl: int = 600
    ) -> dict[str, str]:
        token = issue_token(
            key, org=org, role=role, customer_org=customer, sub=sub, ttl_seconds=ttl
        )
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def org(unique: str) -> str:
    return f"gorg-{unique}"
