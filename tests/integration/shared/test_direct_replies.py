"""bus.serve's direct reply path answers exactly as FastStream's middleware chain does.

Both paths serve the same declared command (as the renderer user) on a real nats-server
and get the same requests from the gateway user: a valid one, requests that break the
contract in different ways, and handlers that raise a Sigil error or an arbitrary
exception quoting a canary. The replies must be byte-for-byte equal in JSON, typed, and
never carry the canary; the direct path also handles ``max_workers`` requests at once.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError

from sigil_shared import operations as ops
from sigil_shared.bus import DirectReplies, create_broker, declare
from sigil_shared.contracts import TemplateValidateReply, TemplateValidateRequest
from sigil_shared.errors import NotFoundError
from sigil_shared.settings import BusSettings
from tests.helpers import NatsFixture

CANARY = "canary-Direct-Reply-5521-value"
OP = ops.TEMPLATE_VALIDATE
ACTOR = {"userId": "u1", "organizationId": "o1", "role": "admin"}
Behaviour = Callable[[TemplateValidateRequest], TemplateValidateReply]


def _answer(request: TemplateValidateRequest) -> TemplateValidateReply:
    return TemplateValidateReply(valid=True, errors=[], references=[request.request_id], missing=[])


def _not_found(request: TemplateValidateRequest) -> TemplateValidateReply:
    raise NotFoundError(f"no template {request.request_id}", details={"field": "requestId"})


def _crash(request: TemplateValidateRequest) -> TemplateValidateReply:
    raise RuntimeError(f"{CANARY} {request.env_file}")


CASES: list[tuple[bytes, Behaviour]] = [
    (json.dumps({"actor": ACTOR, "requestId": "r1"}).encode(), _answer),
    (json.dumps({"actor": ACTOR, "requestId": "r2", "envFile": CANARY}).encode(), _not_found),
    (json.dumps({"actor": ACTOR, "requestId": "r3", "envFile": CANARY}).encode(), _crash),
    (json.dumps({"actor": ACTOR, "requestId": "", "envFile": CANARY}).encode(), _answer),
    (json.dumps({"actor": ACTOR, "requestId": "r5", "unexpected": CANARY}).encode(), _answer),
    (json.dumps({"requestId": CANARY}).encode(), _answer),
]
#: Not a JSON object: pydantic words these differently when it parses the bytes itself
#: (the direct path) than after FastStream decoded them; the same typed error, same place.
NOT_JSON = [b"not json " + CANARY.encode(), b"\xff\xfe invalid utf-8", b"", b'{"a": ', b"[]"]


PROBE = json.dumps({"actor": ACTOR, "requestId": "probe"}).encode()


@asynccontextmanager
async def _serving(
    nats_server: NatsFixture,
    nc: NatsClient,
    handler: Callable[[TemplateValidateRequest], Any],
    *,
    direct: bool,
    max_workers: int = 1,
) -> AsyncIterator[None]:
    broker = create_broker(BusSettings(**nats_server.creds("renderer")), service="renderer")
    subscriber = declare(broker, OP, handler, max_workers=max_workers)
    if direct:
        # As serve() does without tracing (explicit here: it must not depend on tracing).
        DirectReplies(OP, handler, max_workers=max_workers).attach(subscriber)
    await broker.start()
    try:
        await _until_answered(nc)
        yield
    finally:
        await broker.stop()


async def _until_answered(nc: NatsClient) -> None:
    """Bounded wait until the server routes requests to the new responder."""
    for _ in range(200):
        try:
            await nc.request(OP.subject, PROBE, timeout=2)
        except NoRespondersError:
            await asyncio.sleep(0.02)
        else:
            return
    pytest.fail("the responder never answered")


@pytest.fixture
async def gateway_nc(nats_server: NatsFixture) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(
        nats_server.url,
        user="gateway",
        password=nats_server.data.passwords()["gateway"],
        inbox_prefix="_INBOX.gateway",
    )
    yield nc
    await nc.close()


async def _replies(nats_server: NatsFixture, nc: NatsClient, *, direct: bool) -> list[bytes]:
    behaviours: list[Behaviour] = []

    async def handler(request: TemplateValidateRequest) -> TemplateValidateReply:
        if request.request_id == "probe":
            return _answer(request)
        return behaviours.pop(0)(request)

    answers = []
    async with _serving(nats_server, nc, handler, direct=direct):
        for payload, behaviour in [*CASES, *((p, _answer) for p in NOT_JSON)]:
            behaviours[:] = [behaviour]
            # Request headers are not sent back with the reply.
            headers = {"X-Canary": CANARY, "Nats-Msg-Id": CANARY}
            reply = await nc.request(OP.subject, payload, timeout=5, headers=headers)
            assert CANARY not in reply.data.decode("utf-8", "replace")
            assert not {"Nats-Msg-Id", "X-Canary"} & set(reply.headers or {})
            answers.append(reply.data)
    return answers


async def test_direct_replies_equal_faststream_chain(
    nats_server: NatsFixture, gateway_nc: NatsClient, caplog: pytest.LogCaptureFixture
) -> None:
    chain_bytes = await _replies(nats_server, gateway_nc, direct=False)
    direct_bytes = await _replies(nats_server, gateway_nc, direct=True)
    # Byte for byte: the gateway relays a success's data by its exact envelope prefix.
    assert direct_bytes[: len(CASES)] == chain_bytes[: len(CASES)]
    assert direct_bytes[0].startswith(b'{"ok":true,"data":{')
    chain = [json.loads(b) for b in chain_bytes]
    direct = [json.loads(b) for b in direct_bytes]
    for ours, theirs in zip(direct[len(CASES) :], chain[len(CASES) :], strict=True):
        assert ours["ok"] is theirs["ok"] is False
        assert ours["error"]["code"] == theirs["error"]["code"] == "invalid_message"
        fields = [[e["field"] for e in a["error"]["details"]["errors"]] for a in (ours, theirs)]
        assert fields == [["request"], ["request"]]
    assert direct[0] == {
        "ok": True,
        "data": {
            "valid": True,
            "errors": [],
            "references": ["r1"],
            "missing": [],
            "errorsOmitted": 0,
            "referencesOmitted": 0,
            "missingOmitted": 0,
        },
        "error": None,
    }
    codes = [answer["error"]["code"] if answer["error"] else None for answer in direct]
    assert codes == [None, "not_found", "internal", *["invalid_message"] * 8]
    assert direct[2]["error"]["message"] == "internal error"
    assert "RuntimeError" in caplog.text
    assert CANARY not in caplog.text


async def test_direct_replies_handle_max_workers_at_once(
    nats_server: NatsFixture, gateway_nc: NatsClient
) -> None:
    workers = 4
    inside = 0
    all_in = asyncio.Event()

    async def handler(request: TemplateValidateRequest) -> TemplateValidateReply:
        nonlocal inside
        if request.request_id == "probe":
            return _answer(request)
        inside += 1
        if inside == workers:
            all_in.set()
        # Only returns once every worker is inside: one at a time would never get there.
        await asyncio.wait_for(all_in.wait(), timeout=5)
        return _answer(request)

    payloads = [json.dumps({"actor": ACTOR, "requestId": f"r{i}"}).encode() for i in range(workers)]
    async with _serving(nats_server, gateway_nc, handler, direct=True, max_workers=workers):
        replies = await asyncio.gather(
            *(gateway_nc.request(OP.subject, p, timeout=8) for p in payloads)
        )
    assert sorted(json.loads(r.data)["data"]["references"][0] for r in replies) == [
        f"r{i}" for i in range(workers)
    ]


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "faststream"])
async def test_a_reply_over_max_payload_is_a_typed_error_not_silence(
    nats_server: NatsFixture,
    gateway_nc: NatsClient,
    caplog: pytest.LogCaptureFixture,
    direct: bool,
) -> None:
    """nats-py refuses to publish more than the server's max_payload: without a check the
    caller got no reply at all and timed out (red-team N2)."""
    limit = gateway_nc.max_payload

    async def handler(request: TemplateValidateRequest) -> TemplateValidateReply:
        if request.request_id == "probe":
            return _answer(request)
        # Built without the contract's bound, as a handler with a bug in it could.
        names = [f"{CANARY}-{i:07d}" for i in range(limit // len(CANARY) + 1)]
        return TemplateValidateReply.model_construct(
            valid=False,
            errors=[],
            references=names,
            missing=names,
            errors_omitted=0,
            references_omitted=0,
            missing_omitted=0,
        )

    payload = json.dumps({"actor": ACTOR, "requestId": "big", "envFile": CANARY}).encode()
    async with _serving(nats_server, gateway_nc, handler, direct=direct):
        reply = await gateway_nc.request(OP.subject, payload, timeout=5)
        # The subscription still answers afterwards.
        again = await gateway_nc.request(OP.subject, PROBE, timeout=5)
    answer = json.loads(reply.data)
    assert answer["ok"] is False
    assert answer["error"]["code"] == "invalid_request"
    assert answer["error"]["message"].startswith("the answer is too large to send: ")
    assert f"at most {limit} per message" in answer["error"]["message"]
    assert len(reply.data) < 1024
    assert CANARY not in reply.data.decode()
    assert json.loads(again.data)["ok"] is True
    assert "too large" in caplog.text
    assert CANARY not in caplog.text
