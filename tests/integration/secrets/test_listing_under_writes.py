"""Paging through an organization while other writers create and delete its secrets."""

import asyncio
import random

from tests.integration.bus_client import SecretsClient, actor

CANARY = "canary-Paging-9012"


async def test_pages_stay_ordered_and_complete_under_concurrent_creates_and_deletes(
    client: SecretsClient, org: str
) -> None:
    admin = actor(org)
    sem = asyncio.Semaphore(32)

    async def create(key: str, customer: str | None = None) -> str:
        async with sem:
            return (await client.create(admin, key, CANARY, customer=customer)).id

    scopes = [None, "c1", "c2"]
    ids = await asyncio.gather(*(create(f"K{i:04d}", scopes[i % 3]) for i in range(240)))
    rng = random.Random(5)
    doomed = set(rng.sample(range(240), 60))
    survivors = {(f"K{i:04d}", scopes[i % 3] or "") for i in range(240) if i not in doomed}
    stop = asyncio.Event()

    async def churn() -> None:
        for n, i in enumerate(sorted(doomed, key=lambda _: rng.random())):
            await client.delete(admin, ids[i], force=True)
            await create(f"K{rng.randrange(240):04d}_NEW{n}", rng.choice(scopes))
            if stop.is_set():
                return

    async def walk() -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        cursor = None
        while True:
            page = await client.list(admin, limit=15, cursor=cursor)
            seen += [(m.key, m.customer_organization_id or "") for m in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return seen

    writer = asyncio.create_task(churn())
    walks = [await walk() for _ in range(3)]
    stop.set()
    await writer
    for seen in walks:
        assert seen == sorted(seen), "pages come in key, then scope order"
        assert len(seen) == len(set(seen)), "no secret is listed twice"
        assert survivors <= set(seen), "every secret that lived throughout is listed"
    # Once quiet, a walk is exactly the live set, in each scope too.
    final = await walk()
    assert survivors <= set(final)
    assert len(final) == 240  # every delete was paired with a create
    c1 = await client.list(admin, customer_organization_id="c1", limit=1000)
    assert [m.key for m in c1.items] == sorted(k for k, s in final if s == "c1")
