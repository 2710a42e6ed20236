"""Red-team findings F2, F3 and the redactor minor items over a real nats-server: wrapped
base64 whatever separates its lines, HTML escaping with any quote entity, raw messages on
malformed subjects terminated and never stored."""

import asyncio
import base64
import html
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient

from sigil_shared import subjects
from sigil_shared.log_publisher import LogPublisher
from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, actor, bus_as
from tests.integration.redactor import logs as helpers
from tests.integration.redactor.logs import MASK
from tests.integration.stack import running_stack

#: Every separator of the finding, and the bare ones.
SEPARATORS = {
    "indent2": "\n  ",
    "indent4": "\n    ",
    "tab": "\n\t",
    "list": "\n- ",
    "json-escaped": "\\n",
    "crlf-indent": "\r\n    ",
    "lf": "\n",
    "crlf": "\r\n",
}


@pytest.fixture
def org(unique: str) -> str:
    return f"rt-{unique}"


@pytest.fixture
async def stack(
    nats_server: NatsFixture,
) -> AsyncIterator[tuple[SecretsClient, NatsBroker]]:
    async with (
        running_stack(nats_server, services=("secrets", "redactor")),
        bus_as(nats_server, "gateway") as gateway,
    ):
        yield SecretsClient(gateway), gateway


def _lines(value: bytes, width: int) -> list[str]:
    encoded = base64.b64encode(value).decode()
    return [encoded[i : i + width] for i in range(0, len(encoded), width)]


async def test_wrapped_base64_is_masked_whatever_separates_its_lines(
    stack: tuple[SecretsClient, NatsBroker], org: str, platform_nc: NatsClient
) -> None:
    client, gateway = stack
    # A private-key-like value: 300 bytes, so every line of both wraps holds >= 6 bytes.
    value = "-----BEGIN KEY-----\n" + "".join(chr(48 + (i * 37) % 75) for i in range(260))
    value += "\n-----END KEY-----"
    await client.create(actor(org), "TLS_KEY", value)
    cases = [(w, name) for w in (64, 76) for name in SEPARATORS]
    async with LogPublisher(platform_nc.jetstream(), org, "pem") as logs:
        for width, name in cases:
            blob = SEPARATORS[name].join(_lines(value.encode(), width))
            await logs.add_line(f"{width}/{name}: tls.key: |\n    {blob}\nend")
        # A JSON logger's line: the record body is JSON whose string holds the blob.
        blob = "\n".join(_lines(value.encode(), 64))
        await logs.add_line(json.dumps({"msg": "loaded", "key": blob}))
    entries = await helpers.all_records(gateway, actor(org), "pem", len(cases) + 1)
    bodies = [e.record.body for e in entries]
    for (width, name), body in zip(cases, bodies, strict=False):
        assert body.startswith(f"{width}/{name}: tls.key: |\n    {MASK}"), body[:80]
        visible = [line for line in _lines(value.encode(), width) if line in body]
        assert visible == [], (width, name, visible)
    assert not [line for line in _lines(value.encode(), 64) if line in bodies[-1]]
    assert MASK in bodies[-1]


async def test_html_escaping_with_any_quote_entity_is_masked(
    stack: tuple[SecretsClient, NatsBroker], org: str, platform_nc: NatsClient
) -> None:
    client, gateway = stack
    first, second = "it's-Canary-Q7", 'say "hi" it\'s-Z8'
    await client.create(actor(org), "A", first)
    await client.create(actor(org), "B", second)
    forms = {
        "python html.escape": [html.escape(first), html.escape(second)],
        "ruby CGI.escapeHTML": [
            first.replace("'", "&#39;"),
            second.replace('"', "&quot;").replace("'", "&#39;"),
        ],
        "php ENT_QUOTES": [
            "it&#039;s-Canary-Q7",
            second.replace('"', "&quot;").replace("'", "&#039;"),
        ],
        "php ENT_QUOTES|ENT_HTML5": [
            first.replace("'", "&apos;"),
            second.replace('"', "&quot;").replace("'", "&apos;"),
        ],
    }
    assert forms["python html.escape"][1] == "say &quot;hi&quot; it&#x27;s-Z8"
    async with LogPublisher(platform_nc.jetstream(), org, "web") as logs:
        for name, (a, b) in forms.items():
            await logs.add_line(f"{name}: <b>{a}</b> <i>{b}</i>")
    bodies = [
        e.record.body for e in await helpers.all_records(gateway, actor(org), "web", len(forms))
    ]
    assert bodies == [f"{name}: <b>{MASK}</b> <i>{MASK}</i>" for name in forms]


async def test_raw_messages_on_malformed_subjects_are_terminated_never_stored(
    stack: tuple[SecretsClient, NatsBroker],
    org: str,
    platform_nc: NatsClient,
    nats_server: NatsFixture,
) -> None:
    client, gateway = stack
    secret = "subject-canary-4242"
    await client.create(actor(org), "K", secret)
    js = platform_nc.jetstream()
    record = json.dumps(
        {"timestamp": datetime.now(UTC).isoformat(), "body": f"raw {secret}"}
    ).encode()
    bad = [
        f"sigil.logs.raw.{org}",
        f"sigil.logs.raw.{org}.dep1.extra",
        f"sigil.logs.raw.{org}$B.dep1",
        f"sigil.logs.raw.{org}.d\u00e9p",
        f"sigil.logs.raw.{org}." + "d" * 100,
    ]
    for subject in bad:
        await js.publish(subject, record)
    await js.publish(subjects.logs_raw(org, "good"), record)
    (entry,) = await helpers.all_records(gateway, actor(org), "good", 1)
    assert entry.record.body == f"raw {MASK}"
    admin = await nats.connect(
        nats_server.url,
        user="bootstrap",
        password=nats_server.data.passwords()["bootstrap"],
        inbox_prefix="_INBOX.bootstrap",
    )
    try:
        admin_js = admin.jetstream()

        async def left(stream: str, root: str) -> list[str]:
            info = await admin_js.stream_info(stream, subjects_filter=f"{root}.>")
            return sorted(k for k in info.state.subjects or {} if k.startswith(f"{root}.{org}"))

        for _ in range(200):  # terminated: gone from the work queue, not waiting to return
            if not await left(subjects.LOGS_RAW_STREAM, "sigil.logs.raw"):
                break
            await asyncio.sleep(0.05)
        assert await left(subjects.LOGS_RAW_STREAM, "sigil.logs.raw") == []
        stored = await left(subjects.LOGS_REDACTED_STREAM, "sigil.logs.redacted")
        assert stored == [subjects.logs_redacted(org, "good")]
    finally:
        await admin.close()
