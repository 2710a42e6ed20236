"""A consumer's fetch loop stops even when a cancellation is lost on its way in."""

import asyncio

import pytest

from sigil_shared.jetstream import stop_fetch_loop


async def test_a_loop_that_loses_a_cancellation_is_still_stopped() -> None:
    # What Python 3.11's wait_for does when a cancellation races the end of its wait: the
    # loop sees a timeout instead and fetches on.
    lost = 0

    async def loop() -> None:
        nonlocal lost
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost += 1

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.02)
    async with asyncio.timeout(5):
        await stop_fetch_loop(task)
    assert task.cancelled()
    assert lost == 1


async def test_a_loop_that_failed_raises_its_error() -> None:
    async def loop() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="boom"):
        await stop_fetch_loop(task)
