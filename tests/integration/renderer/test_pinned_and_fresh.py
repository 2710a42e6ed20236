"""Pinned re-renders, receipt growth, cache freshness and value-use audit over a real stack."""

import asyncio
import contextlib
import logging

import pytest
from faststream.nats import NatsBroker

from sigil_shared import operations as ops
from sigil_shared.bus import request
from sigil_shared.contracts import TemplateRenderReply, TemplateRenderRequest
from sigil_shared.errors import NotFoundError
from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, actor, bus_as, render_env
from tests.integration.stack import running_stack

CANARY = "canary-Pinned-9034-secret"


def _text(reply: TemplateRenderReply) -> str:
    assert reply.env_file is not None
    return reply.env_file.get_secret_value()


async def test_rerender_after_40_updates_gives_the_version_1_value(
    client: SecretsClient, platform: NatsBroker, org: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = actor(org)
    meta = await client.create(admin, "DB_PASSWORD", f"{CANARY}-v1")
    env = "PW={{ .Secrets.DB_PASSWORD }}\n"
    first = await render_env(platform, org, "web", 1, env)
    assert [(e.key, e.version) for e in first.receipt.secrets] == [("DB_PASSWORD", 1)]
    for i in range(2, 42):
        await client.update(admin, meta.id, f"{CANARY}-v{i}")
    again = await render_env(platform, org, "web", 1, env)
    assert again.reused_receipt is True
    assert _text(again) == f"PW={CANARY}-v1\n"
    fresh = await render_env(platform, org, "web", 2, env)
    assert _text(fresh) == f"PW={CANARY}-v41\n"
    assert CANARY not in caplog.text


async def test_rerender_with_a_key_its_receipt_lacks_records_it(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    admin = actor(org)
    await client.create(admin, "A", "a-value-1")
    b = await client.create(admin, "B", "b-value-1")
    await render_env(platform, org, "web", 1, "A={{ .Secrets.A }}\n")
    grown = await render_env(platform, org, "web", 1, "A={{ .Secrets.A }}\nB={{ .Secrets.B }}\n")
    assert grown.reused_receipt is True
    assert [(e.key, e.version) for e in grown.receipt.secrets] == [("A", 1), ("B", 1)]
    # The stored receipt grew: impact (shown on update) names the revision for B ...
    updated = await client.update(admin, b.id, "b-value-2")
    assert [
        (a.deployment_id, a.revision, a.version) for a in updated.affected_deployments or []
    ] == [("web", 1, 1)]
    # ... and the revision keeps B's version 1 from now on.
    again = await render_env(platform, org, "web", 1, "A={{ .Secrets.A }}\nB={{ .Secrets.B }}\n")
    assert _text(again) == "A=a-value-1\nB=b-value-1\n"


async def test_missing_pinned_version_fails_naming_key_and_version(
    nats_server: NatsFixture, org: str
) -> None:
    # Forced cleanup: a forced delete whose retention is over drops every kept version.
    overrides = {"secrets": {"deleted_retention_days": 0}}
    async with (
        running_stack(nats_server, services=("secrets", "renderer"), overrides=overrides),
        bus_as(nats_server, "gateway") as gateway,
        bus_as(nats_server, "platform") as platform,
    ):
        client = SecretsClient(gateway)
        admin = actor(org)
        meta = await client.create(admin, "TOKEN", CANARY)
        env = "T={{ .Secrets.TOKEN }}\n"
        await render_env(platform, org, "api", 5, env)
        await client.delete(admin, meta.id, force=True)
        with pytest.raises(NotFoundError) as info:
            await render_env(platform, org, "api", 5, env)
    err = info.value
    assert "TOKEN" in err.message
    assert "version 1" in err.message
    assert (err.details["key"], err.details["version"]) == ("TOKEN", 1)
    assert CANARY not in err.message + repr(err.details)


async def test_render_after_an_acknowledged_update_never_uses_the_old_value(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    admin = actor(org)
    meta = await client.create(admin, "K", "value-1")
    await client.create(admin, "OTHER", "other-value")
    stop = asyncio.Event()

    async def background() -> None:
        # Renders of the same organization in flight all the time, so freshness reads are
        # shared and the cache stays warm while the updates land.
        revision = 0
        while not stop.is_set():
            revision += 1
            await render_env(
                platform, org, "noise", revision, "O={{ .Secrets.OTHER }}\nK={{ .Secrets.K }}\n"
            )

    noise = [asyncio.create_task(background()) for _ in range(3)]
    try:
        for i in range(2, 62):
            await client.update(admin, meta.id, f"value-{i}")
            reply = await render_env(platform, org, "web", i, "K={{ .Secrets.K }}\n")
            assert _text(reply) == f"K=value-{i}\n"
            assert [e.version for e in reply.receipt.secrets] == [i]
    finally:
        stop.set()
        for task in noise:
            with contextlib.suppress(Exception):
                await task


async def test_render_is_audited_with_keys_scopes_and_versions(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    admin = actor(org)
    await client.create(admin, "SHARED", f"{CANARY}-vendor")
    await client.create(admin, "SHARED", f"{CANARY}-customer", customer="c1")
    await request(
        platform,
        ops.TEMPLATE_RENDER,
        TemplateRenderRequest(
            organization_id=org,
            customer_organization_id="c1",
            deployment_id="shop",
            revision=3,
            env_file="S={{ .Secrets.SHARED }}\n",
            request_id="render-req-1",
        ),
        timeout=10,
    )
    events = []
    for _ in range(100):
        page = await client.audit(admin, action="template.render")
        events = [e for e in page.items if e.request_id == "render-req-1"]
        if events:
            break
        await asyncio.sleep(0.05)
    (event,) = events
    assert (event.deployment_id, event.revision, event.outcome) == ("shop", "3", "success")
    assert [(k.key, k.customer_organization_id, k.version) for k in event.keys or []] == [
        ("SHARED", "c1", 1)
    ]
    assert CANARY not in event.model_dump_json()


async def test_renders_create_no_jetstream_consumers(
    nats_server: NatsFixture, client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    admin = actor(org)
    meta = await client.create(admin, "K", "value-1")
    nc = await nats_server.connect("bootstrap")
    try:
        js = nc.jetstream()
        await render_env(platform, org, "web", 1, "K={{ .Secrets.K }}\n")
        # An update asks the renderer for its impact (a receipt scan with a short-lived
        # consumer): done before counting, so only renders are counted.
        await client.update(admin, meta.id, "value-2")
        before = {s.config.name: s.state.consumer_count for s in await js.streams_info()}
        for revision in range(1, 21):  # new revisions, and revision 1 re-rendered (pinned)
            await render_env(platform, org, "web", revision, "K={{ .Secrets.K }}\n")
        after = {s.config.name: s.state.consumer_count for s in await js.streams_info()}
    finally:
        await nc.close()
    # Idle scan consumers may expire meanwhile; none may appear.
    assert all(after[name] <= count for name, count in before.items()), (before, after)


async def test_rerender_never_picks_up_a_recreated_secret_with_the_same_version(
    client: SecretsClient, platform: NatsBroker, org: str
) -> None:
    admin = actor(org)
    meta = await client.create(admin, "TOKEN", f"{CANARY}-original")
    env = "T={{ .Secrets.TOKEN }}\n"
    await render_env(platform, org, "api", 1, env)
    await client.delete(admin, meta.id, force=True)
    await client.create(admin, "TOKEN", "recreated-value")
    try:
        again = await render_env(platform, org, "api", 1, env)
    except NotFoundError:
        return  # the pinned version is reported gone: acceptable, never another value
    assert _text(again) == f"T={CANARY}-original\n"
