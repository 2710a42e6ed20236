"""No runtime user lists the subjects of a stream it may not read whole (real nats-server).

``$JS.API.STREAM.INFO.<stream>`` with ``{"subjects_filter": ">"}`` answers every subject of
the stream: on the secrets bucket every organization, customer organization, key name and
secret id. With the generated users, the renderer and redactor (which may only get
``g.<org>`` keys there) are refused it, every user is refused it on each stream it does not
see whole, and nobody but the setup step may call a listing API; the renderer and the
redactor still find their streams ready with a direct get, and still say when one is missing.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.streams import STREAMS, check_streams, lists_subjects
from tests.helpers import NatsFixture, start_nats

SECRETS_KV = subjects.kv_stream(subjects.SECRETS_BUCKET)
CANARY_ORG = "canaryOrgListing7731"
CANARY_KEY = "CANARY_LISTED_KEY_7731"
PLANTED = f"$KV.{subjects.SECRETS_BUCKET}.o.{CANARY_ORG}.k.{CANARY_KEY}"
FILTER = json.dumps({"subjects_filter": ">"}).encode()


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[NatsFixture]:
    """A server of its own: the planted key must not reach other tests' buckets."""
    fixture = start_nats(tmp_path / "nats")
    yield fixture
    fixture.server.stop()


async def _connect(fixture: NatsFixture, user: str, errors: list[str]) -> NatsClient:
    async def on_error(err: Exception) -> None:
        errors.append(str(err).lower())

    return await nats.connect(
        fixture.url,
        user=user,
        password=fixture.data.passwords()[user],
        inbox_prefix=subjects.inbox_prefix(user),
        error_cb=on_error,
    )


async def _plant(fixture: NatsFixture) -> None:
    """A key of another tenant in the secrets bucket, written as the secrets service may."""
    nc = await _connect(fixture, "secrets", [])
    try:
        await nc.jetstream().publish(PLANTED, b"ciphertext-stand-in")
    finally:
        await nc.close()


async def _ask_all(
    fixture: NatsFixture, user: str, calls: list[str]
) -> tuple[dict[str, bytes], list[str]]:
    """Send every call with the subjects filter; the answers by call, and the server's errors."""
    errors: list[str] = []
    answers: dict[str, bytes] = {}
    nc = await _connect(fixture, user, errors)
    prefix = f"{subjects.inbox_prefix(user)}.listing"

    async def on_answer(msg: Msg) -> None:
        answers[calls[int(msg.subject.rsplit(".", 1)[1])]] = msg.data

    try:
        await nc.subscribe(f"{prefix}.*", cb=on_answer)
        for i, call in enumerate(calls):
            await nc.publish(call, FILTER, reply=f"{prefix}.{i}")
        # Every call is either answered or refused; wait until each one is one or the other.
        for _ in range(200):
            await nc.flush()
            settled = [
                c for c in calls if c in answers or f'publish to "{c.lower()}"' in " ".join(errors)
            ]
            if len(settled) == len(calls):
                break
            await asyncio.sleep(0.02)
    finally:
        await nc.close()
    return answers, errors


def _refused(errors: list[str], call: str) -> bool:
    return any(f'permissions violation for publish to "{call.lower()}"' in e for e in errors)


async def test_only_the_secrets_user_lists_the_secrets_bucket(private_nats: NatsFixture) -> None:
    await _plant(private_nats)
    call = f"$JS.API.STREAM.INFO.{SECRETS_KV}"
    # The control: the listing does reveal the planted tenant's ids to whoever may call it.
    answers, _ = await _ask_all(private_nats, "secrets", [call])
    listed = json.loads(answers[call])["state"]["subjects"]
    assert PLANTED in listed
    for user in ("renderer", "redactor"):
        answers, errors = await _ask_all(private_nats, user, [call])
        assert call not in answers, f"{user} got the secrets bucket's subjects"
        assert _refused(errors, call), (user, errors)
        assert not [a for a in answers.values() if CANARY_ORG.encode() in a]


@pytest.mark.parametrize("user", ops.RUNTIME_USERS)
async def test_each_user_lists_only_the_streams_it_sees_whole(
    private_nats: NatsFixture, user: str
) -> None:
    info = [f"$JS.API.STREAM.INFO.{spec.name}" for spec in STREAMS]
    listing = ["$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST"]
    for spec in STREAMS:
        listing += [f"$JS.API.CONSUMER.NAMES.{spec.name}", f"$JS.API.CONSUMER.LIST.{spec.name}"]
    answers, errors = await _ask_all(private_nats, user, info + listing)
    for spec, call in zip(STREAMS, info, strict=True):
        if lists_subjects(spec, user):
            assert call in answers, (user, call, errors)
            assert not _refused(errors, call)
        else:
            assert call not in answers, (user, call)
            assert _refused(errors, call), (user, call, errors)
    for call in listing:
        assert call not in answers, (user, call)
        assert _refused(errors, call), (user, call, errors)


@pytest.mark.parametrize("user", ["renderer", "redactor"])
async def test_streams_are_ready_without_listing_and_missing_ones_are_named(
    private_nats: NatsFixture, tmp_path: Path, user: str
) -> None:
    await _plant(private_nats)  # a message in the bucket changes nothing for the probe
    errors: list[str] = []
    nc = await _connect(private_nats, user, errors)
    try:
        ready = await check_streams(nc.jetstream(timeout=5), user)
        await nc.flush()
    finally:
        await nc.close()
    assert ready[f"stream {SECRETS_KV}"] == "ok"
    assert set(ready.values()) == {"ok"}, ready
    assert not errors, errors  # nothing it asked for was refused

    bare = start_nats(tmp_path / "bare", setup=False)
    try:
        nc = await _connect(bare, user, [])
        try:
            missing = await check_streams(nc.jetstream(timeout=2), user)
        finally:
            await nc.close()
    finally:
        bare.server.stop()
    assert missing[f"stream {SECRETS_KV}"].startswith("missing: run the setup step"), missing
