"""The bus contract on a real nats-server: typed error replies and subject permissions."""

import asyncio
import json

import nats
import pytest
from nats.aio.client import Client as NatsClient

from sigil_shared import subjects
from tests.helpers import NatsFixture
from tests.integration.stack import running_stack

CANARY = "canary-Zq8!wV3-never-echo"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json at all " + CANARY.encode(),
        b"\xff\xfe\xfd invalid utf-8",
        json.dumps({"unexpected": CANARY}).encode(),
        b"[]",
    ],
)
async def test_malformed_message_gets_typed_error_reply(
    nats_server: NatsFixture, platform_nc: NatsClient, payload: bytes
) -> None:
    async with running_stack(nats_server, services=("renderer",)):
        reply = await platform_nc.request(subjects.health("renderer"), payload, timeout=2)
    body = json.loads(reply.data)
    assert body["ok"] is False
    assert body["error"]["code"] == "invalid_message"
    assert body["error"]["details"]["errors"], "validation details are listed"
    assert CANARY not in reply.data.decode()
    assert "Traceback" not in reply.data.decode()


async def test_service_survives_malformed_messages(
    nats_server: NatsFixture, platform_nc: NatsClient
) -> None:
    async with running_stack(nats_server, services=("renderer",)):
        for _ in range(20):
            await platform_nc.request(subjects.health("renderer"), b"\x00garbage", timeout=2)
        reply = await platform_nc.request(subjects.health("renderer"), b"{}", timeout=2)
    assert json.loads(reply.data)["data"]["ready"] is True


async def test_gateway_user_may_not_ask_for_secret_values(nats_server: NatsFixture) -> None:
    errors: list[Exception] = []

    async def on_error(err: Exception) -> None:
        errors.append(err)

    nc = await nats.connect(
        nats_server.url,
        user="gateway",
        password=nats_server.data.passwords()["gateway"],
        error_cb=on_error,
        inbox_prefix="_INBOX.gateway",
    )
    try:
        for subject in (subjects.SECRET_RESOLVE, subjects.SECRET_REDACTION_VALUES):
            with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
                await nc.request(subject, b"{}", timeout=0.5)
        await asyncio.sleep(0.1)
    finally:
        await nc.close()
    text = " ".join(str(e) for e in errors).lower()
    assert "permissions violation for publish to" in text
    assert subjects.SECRET_RESOLVE in text


async def test_wrong_password_is_refused(nats_server: NatsFixture) -> None:
    # Spoken at the protocol level: nats-py leaks its socket on a refused CONNECT.
    host, port = nats_server.url.removeprefix("nats://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        await reader.readline()  # INFO
        connect = {"user": "secrets", "pass": "wrong", "verbose": False, "pedantic": False}
        writer.write(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    assert answer.startswith(b"-ERR 'Authorization Violation'")
