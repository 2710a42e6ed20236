"""Kill -9 a redactor replica mid-batch: no record lost, none stored twice, none leaked raw."""

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from sigil_shared import subjects
from sigil_shared.contracts import LogRecord
from sigil_shared.contracts.logs import stored_records
from sigil_shared.jetstream import scan_rows
from sigil_shared.log_publisher import LogPublisher
from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, actor, bus_as
from tests.integration.stack import running_stack

pytestmark = pytest.mark.slow
SECRET = "redelivery-secret-4815"
BATCHES = 60
PER_BATCH = 100
SINGLES = 200
LINES = BATCHES * PER_BATCH + SINGLES


async def test_killed_replica_loses_and_duplicates_nothing(
    nats_server: NatsFixture, platform_nc: NatsClient, unique: str
) -> None:
    org = f"kill-{unique}"
    creds = nats_server.creds("redactor")
    env = dict(
        os.environ,
        SIGIL_NATS_URL=creds["nats_url"],
        SIGIL_NATS_USER="redactor",
        SIGIL_NATS_PASSWORD=creds["nats_password"],
        SIGIL_LOG_LEVEL="ERROR",
        # Small fetches so the kill lands between a fetch and its acks.
        SIGIL_BATCH_SIZE="4",
    )
    subject = subjects.logs_redacted(org, "d")
    async with (
        running_stack(nats_server, services=("secrets",)),
        bus_as(nats_server, "gateway") as gateway,
    ):
        await SecretsClient(gateway).create(actor(org), "K", SECRET)
        victim = subprocess.Popen([sys.executable, "-m", "sigil_redactor"], env=env)  # noqa: ASYNC220
        observer = await _observer(nats_server)
        try:
            await _wait_for_consumer(observer)
            # Batches (JSON arrays of 100 records) and single records, interleaved.
            js = platform_nc.jetstream()
            async with LogPublisher(js, org, "d", max_records=PER_BATCH) as logs:
                for n in range(BATCHES * PER_BATCH):
                    await logs.add_line(f"{n} {SECRET}")
                    if n % 30 == 0 and n // 30 < SINGLES:
                        single = LogRecord.model_validate(
                            {
                                "deploymentId": "d",
                                "timestamp": "2026-12-01T00:00:00Z",
                                "body": f"{LINES - 1 - n // 30} {SECRET}",
                            }
                        )
                        await js.publish(
                            subjects.logs_raw(org, "d"), single.model_dump_json().encode()
                        )
            for _ in range(600):  # kill once some, not all, records are through
                done = len(await _bodies(observer, subject))
                if done >= 500:
                    break
                await asyncio.sleep(0.01)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        finally:
            if victim.poll() is None:
                victim.kill()
                victim.wait()
        assert done < LINES, "the replica finished before it could be killed"
        async with running_stack(nats_server, services=("redactor",)):
            for _ in range(600):
                if len(await _bodies(observer, subject)) >= LINES:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # anything redelivered late would show up now
            bodies = await _bodies(observer, subject)
        await observer.close()
    numbers = sorted(int(b.split()[0]) for b in bodies)
    assert numbers == list(range(LINES)), "every record exactly once"
    assert not [b for b in bodies if SECRET in b]


async def _observer(nats_server: NatsFixture) -> NatsClient:
    import nats

    creds = nats_server.creds("redactor")
    return await nats.connect(
        creds["nats_url"],
        user="redactor",
        password=creds["nats_password"],
        inbox_prefix="_INBOX.redactor",
    )


async def _wait_for_consumer(nc: NatsClient) -> None:
    from nats.js.errors import NotFoundError

    for _ in range(300):
        try:
            await nc.jetstream().consumer_info(subjects.LOGS_RAW_STREAM, subjects.REDACTOR_DURABLE)
            return
        except NotFoundError:
            await asyncio.sleep(0.05)
    pytest.fail("the redactor replica never bound its consumer")


async def _bodies(nc: NatsClient, subject: str) -> list[str]:
    bodies: list[str] = []

    def on_row(seq: int, msg: Msg) -> bool:
        del seq
        bodies.extend(r.body for r in stored_records(msg.data))
        return True

    await scan_rows(nc, nc.jetstream(), subjects.LOGS_REDACTED_STREAM, subject, on_row=on_row)
    return bodies
