"""Redacted records keep their deployment's raw order while the redactor's fetches overlap."""

import secrets
from datetime import UTC, datetime

from nats.aio.client import Client as NatsClient

from sigil_shared import subjects
from sigil_shared.contracts import LogRecord
from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, actor, bus_as
from tests.integration.redactor import logs as helpers
from tests.integration.redactor.logs import MASK
from tests.integration.stack import running_stack

#: Values of many short lines make the slow organization's matcher build take about a second
#: (each line's encodings are patterns of their own: ~60,000 patterns a value), far longer than
#: a fetch round trip. (Long single-line values no longer do: only their anchors are built.)
_SLOW_VALUES = 2
_SLOW_VALUE_LINES = 6_000


def _many_lines() -> str:
    return "\n".join(secrets.token_urlsafe(6) for _ in range(_SLOW_VALUE_LINES))  # 54,000 chars


async def _publish(nc: NatsClient, org: str, deployment: str, body: str) -> None:
    record = LogRecord(deployment_id=deployment, timestamp=datetime.now(UTC), body=body)
    await nc.jetstream().publish(
        subjects.logs_raw(org, deployment), record.model_dump_json().encode()
    )


async def test_lines_stored_in_raw_order_when_an_earlier_fetch_waits_for_a_matcher_build(
    nats_server: NatsFixture, unique: str, platform_nc: NatsClient
) -> None:
    fast, slow = f"ord-{unique}", f"ords-{unique}"
    value = f"ordered-secret-{unique}"
    async with (
        running_stack(nats_server, services=("secrets",)),
        bus_as(nats_server, "gateway") as gateway,
    ):
        client = SecretsClient(gateway)
        await client.create(actor(fast), "K", value)
        for n in range(_SLOW_VALUES):
            await client.create(actor(slow), f"BIG{n}", _many_lines())
        # Queued before the redactor starts, so its fetches (at most 2 messages each; the
        # first, idle, takes one) are [line 0], [slow org's line, line 1], [line 2]: the
        # second waits for the slow organization's matcher while the third finds the fast
        # organization's matcher built by the first.
        await _publish(platform_nc, fast, "app", f"line 0 {value}")
        await _publish(platform_nc, slow, "job", "slow organization's line")
        await _publish(platform_nc, fast, "app", f"line 1 {value}")
        await _publish(platform_nc, fast, "app", f"line 2 {value}")
        async with running_stack(
            nats_server, services=("redactor",), overrides={"redactor": {"batch_size": 2}}
        ):
            stored = await helpers.all_records(gateway, actor(fast), "app", 3)
            await helpers.all_records(gateway, actor(slow), "job", 1)
    assert [entry.record.body for entry in stored] == [f"line {i} {MASK}" for i in range(3)]
    assert [entry.sequence for entry in stored] == sorted(entry.sequence for entry in stored)
