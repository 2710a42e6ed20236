"""Listing 10,000 secrets of one organization works and is paged."""

import asyncio

import pytest

from tests.integration.bus_client import SecretsClient, actor

pytestmark = pytest.mark.slow
COUNT = 10_000


async def test_ten_thousand_secrets_list_in_pages(client: SecretsClient, org: str) -> None:
    admin = actor(org)
    sem = asyncio.Semaphore(64)

    async def create(i: int) -> None:
        async with sem:
            await client.create(
                admin, f"KEY_{i:05d}", f"value-{i}", customer="c1" if i % 10 == 0 else None
            )

    await asyncio.gather(*(create(i) for i in range(COUNT)))
    keys: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await client.list(admin, limit=1000, cursor=cursor)
        keys += [item.key for item in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 10
    assert keys == [f"KEY_{i:05d}" for i in range(COUNT)]
    customer_page = await client.list(actor(org, role="read_only", customer="c1"), limit=1000)
    assert len(customer_page.items) == COUNT // 10
    assert customer_page.next_cursor is None
