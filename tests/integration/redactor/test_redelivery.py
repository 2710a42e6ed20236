"""Kill -9 a redactor replica mid-stream: no line lost, none stored twice, none leaked raw."""

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client as NatsClient

from sigil_shared import subjects
from sigil_shared.contracts import LogRecord
from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, actor, bus_as
from tests.integration.stack import running_stack

pytestmark = pytest.mark.slow
SECRET = "redelivery-secret-4815"
LINES = 3000


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
    )
    async with (
        running_stack(nats_server, services=("secrets",)),
        bus_as(nats_server, "gateway") as gateway,
    ):
        await SecretsClient(gateway).create(actor(org), "K", SECRET)
        victim = subprocess.Popen([sys.executable, "-m", "sigil_redactor"], env=env)  # noqa: ASYNC220
        observer = await _observer(nats_server)
        try:
            await _wait_for_consumer(observer)
            js = platform_nc.jetstream()
            now = datetime.now(UTC)
            for i in range(0, LINES, 500):
                await asyncio.gather(
                    *(
                        js.publish(
                            subjects.logs_raw(org, "d"),
                            LogRecord(
                                deployment_id="d",
                                timestamp=now,
                                body=f"{n} {SECRET}",
                            )
                            .model_dump_json()
                            .encode(),
                        )
                        for n in range(i, min(i + 500, LINES))
                    )
                )
            subject = subjects.logs_redacted(org, "d")
            for _ in range(400):  # kill once some, not all, lines are through
                done = await _count(observer, subject)
                if done >= 200:
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
                if await _count(observer, subject) >= LINES:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # anything redelivered late would show up now
            bodies = await _bodies(observer, subject)
        await observer.close()
    numbers = sorted(int(b.split()[0]) for b in bodies)
    assert numbers == list(range(LINES)), "every line exactly once"
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


async def _count(nc: NatsClient, subject: str) -> int:
    info = await nc.jetstream().stream_info(subjects.LOGS_REDACTED_STREAM, subjects_filter=subject)
    return int((info.state.subjects or {}).get(subject, 0))


async def _bodies(nc: NatsClient, subject: str) -> list[str]:
    from sigil_shared.jetstream import scan

    rows = await scan(nc, nc.jetstream(), subjects.LOGS_REDACTED_STREAM, subject)
    return [LogRecord.model_validate_json(data).body for _, _, data in rows]
