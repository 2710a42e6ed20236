"""A token served from the verified-token cache is refused once it expires."""

import asyncio
import time
from collections.abc import AsyncIterator

import jwt
import pytest

from sigil_gateway.auth import LEEWAY_SECONDS
from tests.helpers import NatsFixture
from tests.integration.stack import Stack, running_stack


@pytest.fixture
async def gateway(nats_server: NatsFixture) -> AsyncIterator[Stack]:
    """The gateway alone: 503 (no secrets service) means a request got past authentication."""
    async with running_stack(nats_server, services=()) as running:
        yield running


async def test_a_cached_token_is_refused_after_it_expires(
    gateway: Stack, nats_server: NatsFixture
) -> None:
    key = nats_server.data.jwt_key_file.read_text().strip()
    # Accepted for 3 more seconds: expired 27 s ago, within the 30 s clock-skew leeway.
    exp = time.time() - LEEWAY_SECONDS + 3
    token = jwt.encode({"sub": "u", "org": "exp", "role": "admin", "exp": exp}, key, "HS256")
    headers = {"Authorization": f"Bearer {token}"}
    first = await gateway.http.get("/api/v1/secrets", headers=headers)
    again = await gateway.http.get("/api/v1/secrets", headers=headers)
    assert first.status_code == again.status_code == 503  # authenticated (and cached)
    await asyncio.sleep(max(0.0, exp + LEEWAY_SECONDS - time.time()) + 0.2)
    late = await gateway.http.get("/api/v1/secrets", headers=headers)
    assert late.status_code == 401
    assert late.json()["error"]["message"] == "token has expired"
