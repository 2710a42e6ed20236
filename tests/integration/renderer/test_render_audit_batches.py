"""Concurrent renders share intake messages, and every render is still audited once."""

import asyncio

from faststream.nats import NatsBroker

from sigil_shared import subjects
from sigil_shared.contracts import ReceiptRecorded, TemplateRenderReply
from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, actor, render_env

CANARY = "canary-AuditBatch-5520-secret"
RENDERS = 60


async def _intake_messages_so_far(nats_server: NatsFixture) -> int:
    """Messages the intake work queue has ever stored (its last sequence)."""
    nc = await nats_server.connect("bootstrap")
    try:
        info = await nc.jetstream().stream_info(subjects.AUDIT_INTAKE_STREAM)
        return int(info.state.last_seq)
    finally:
        await nc.close()


async def test_concurrent_renders_are_each_audited_once_in_fewer_intake_messages(
    client: SecretsClient, platform: NatsBroker, nats_server: NatsFixture, org: str
) -> None:
    admin = actor(org)
    await client.create(admin, "API_KEY", CANARY)
    before = await _intake_messages_so_far(nats_server)

    async def render(revision: int) -> TemplateRenderReply:
        return await render_env(
            platform, org, f"web-{revision % 7}", revision, "K={{ .Secrets.API_KEY }}\n"
        )

    replies = await asyncio.gather(*(render(r) for r in range(1, RENDERS + 1)))
    assert {r.env_file.get_secret_value() for r in replies if r.env_file} == {f"K={CANARY}\n"}
    published = await _intake_messages_so_far(nats_server) - before
    # Every reply waited for its event's PubAck: the events are in the intake already,
    # in fewer messages than renders (renders answered together shared one).
    assert 1 <= published < RENDERS

    async with asyncio.timeout(20):
        while True:
            page = await client.audit(admin, action="template.render", limit=1000)
            if len(page.items) >= RENDERS:
                break
            await asyncio.sleep(0.1)
    rendered = sorted((e.deployment_id, int(e.revision or 0)) for e in page.items)
    assert rendered == sorted((f"web-{r % 7}", r) for r in range(1, RENDERS + 1))
    assert all(e.outcome.value == "success" for e in page.items)
    assert CANARY not in page.model_dump_json()


async def test_renders_of_one_new_revision_at_once_agree_and_the_revision_keeps_its_pins(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    """Ten renders of the same new revision race to create its receipt: one wins, the
    others render again from it, so all ten answer the same receipt and text; after an
    update the revision still renders the version it pinned."""
    admin = actor(org)
    meta = await client.create(admin, "API_KEY", f"{CANARY}-v1")

    async def render(revision: int) -> TemplateRenderReply:
        return await render_env(platform, org, "race", revision, "K={{ .Secrets.API_KEY }}\n")

    replies = await asyncio.gather(*(render(1) for _ in range(10)))
    assert {r.receipt.model_dump_json() for r in replies} == {replies[0].receipt.model_dump_json()}
    assert sum(not r.reused_receipt for r in replies) == 1
    await client.update(admin, meta.id, f"{CANARY}-v2")
    again = await render(1)
    assert again.reused_receipt is True
    assert again.env_file is not None
    assert again.env_file.get_secret_value() == f"K={CANARY}-v1\n"


async def test_the_receipt_event_carries_the_receipt_as_its_contract_encodes_it(
    client: SecretsClient, platform: NatsBroker, nats_server: NatsFixture, org: str
) -> None:
    """The receipt's JSON is encoded once per render and the event wraps it: byte for byte
    what ``ReceiptRecorded`` would encode, as the redactor reads it."""
    await client.create(actor(org), "API_KEY", CANARY)
    redactor = await nats_server.connect("redactor")
    try:
        events = await redactor.subscribe(subjects.receipt_event(org))
        reply = await render_env(platform, org, "web", 1, "K={{ .Secrets.API_KEY }}\n")
        msg = await events.next_msg(timeout=10)
    finally:
        await redactor.close()
    assert msg.data == ReceiptRecorded(receipt=reply.receipt).model_dump_json().encode()
    assert ReceiptRecorded.model_validate_json(msg.data).receipt == reply.receipt
    assert CANARY.encode() not in msg.data
