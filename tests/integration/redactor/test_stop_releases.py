"""A redactor stopping mid-fetch gives its unsettled records back at once.

Red team: SIGTERM during a long matcher build left the fetched records to come back only
after ack_wait (30 s), behind lines published later, so 12 of 16 deployments' redacted
logs were out of order after the restart.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from sigil_redactor.adapters.consumer import RawLogConsumer
from sigil_redactor.adapters.generations import KvGenerationReader
from sigil_redactor.adapters.log_streams import RedactedLogStore
from sigil_redactor.adapters.sources import BusValuesSource, KvReceiptReader
from sigil_redactor.service import RedactorService
from sigil_shared import subjects
from sigil_shared.jetstream import bind_work_consumer
from sigil_shared.log_publisher import LogPublisher
from tests.helpers import NatsFixture, start_nats
from tests.integration.bus_client import bus_as

ACK_WAIT = 120.0  # far longer than the test waits: a redelivery must come from the nak


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsFixture]:
    fixture = start_nats(tmp_path / "nats")
    yield fixture
    fixture.server.stop()


async def test_records_fetched_but_not_stored_are_given_back_on_stop(
    private_nats: NatsFixture,
) -> None:
    secrets_nc = await private_nats.connect("secrets")
    platform_nc = await private_nats.connect("platform")
    asked: list[Msg] = []

    async def never_answer(msg: Msg) -> None:  # a secrets service that hangs
        asked.append(msg)

    await secrets_nc.subscribe(subjects.SECRET_REDACTION_VALUES, cb=never_answer)
    await secrets_nc.flush()
    try:
        async with bus_as(private_nats, "redactor") as broker:
            nc = broker.connection
            service = RedactorService(
                receipts=KvReceiptReader(nc),
                values=BusValuesSource(broker, timeout=60),
                logs=RedactedLogStore(nc),
                generations=KvGenerationReader(nc, timeout=5),
                min_length=4,
                cache_size=8,
            )
            consumer = RawLogConsumer(nc, service, batch=16, ack_wait=ACK_WAIT)
            await consumer.start()
            async with LogPublisher(platform_nc.jetstream(), "acme", "app") as logs:
                for n in range(3):
                    await logs.add_line(f"line {n}")
            for _ in range(200):  # fetched, and waiting for the values that never come
                if asked:
                    break
                await asyncio.sleep(0.05)
            assert asked, "the redactor never asked for the values"
            await consumer.stop()
            # What a restarted replica fetches first: the same records, now, not after
            # ACK_WAIT.
            sub = await bind_work_consumer(
                nc,
                subject=subjects.LOGS_RAW_ALL,
                stream=subjects.LOGS_RAW_STREAM,
                durable=subjects.REDACTOR_DURABLE,
                ack_wait=ACK_WAIT,
                max_ack_pending=20_000,
            )
            again = await sub.fetch(batch=16, timeout=10)
            assert again
            assert all(m.metadata.num_delivered == 2 for m in again)
            await sub.unsubscribe()
    finally:
        await secrets_nc.close()
        await platform_nc.close()
