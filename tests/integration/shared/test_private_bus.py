"""Private inboxes and least-privilege JetStream, proven against a real nats-server.

Every generated user (the four services, the platform, the setup step) is refused the
subscriptions that would let it read others' replies; every runtime user is refused every
JetStream call that manages a stream, deletes a message or deletes a consumer; a spy with
the gateway's credentials, subscribed to everything the gateway may, sees no value while a
render, a validation and a batch of log records go through; and a service whose stream is
missing or configured to drop events says so and is not ready.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import DiscardPolicy
from nats.js.errors import NotFoundError

from sigil_cli.tokens import issue_token
from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import HealthRequest, LogRecord, TemplateRenderRequest
from sigil_shared.permissions import service_permissions
from sigil_shared.settings import SetupSettings
from sigil_shared.setup import setup_streams
from sigil_shared.streams import STREAMS
from tests.helpers import NatsFixture, start_nats
from tests.integration.bus_client import bus_as
from tests.integration.stack import running_stack

CANARY = "canary-Private-Inbox-7731-value"


class Connection:
    """A raw nats-py connection as one user, collecting the server's permission errors."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: NatsClient | None = None

    async def open(self, fixture: NatsFixture, user: str) -> NatsClient:
        async def on_error(err: Exception) -> None:
            self.errors.append(str(err).lower())

        self.nc = await nats.connect(
            fixture.url,
            user=user,
            password=fixture.data.passwords()[user],
            inbox_prefix=subjects.inbox_prefix(user),
            error_cb=on_error,
        )
        return self.nc

    def refused(self, action: str, subject: str) -> bool:
        needle = f'permissions violation for {action} to "{subject.lower()}"'
        return any(needle in e for e in self.errors)


async def _settle(nc: NatsClient) -> None:
    """Round trips until the server has answered everything sent before."""
    for _ in range(3):
        await nc.flush()
    await asyncio.sleep(0.05)


@pytest.mark.parametrize("user", ops.USERS)
async def test_other_inboxes_and_everything_are_refused_to_every_user(
    nats_server: NatsFixture, user: str
) -> None:
    forbidden = ["_INBOX.>", ">", "_INBOX.*.>", "*.>"]
    forbidden += [f"{subjects.inbox_prefix(other)}.>" for other in ops.USERS if other != user]
    conn = Connection()
    nc = await conn.open(nats_server, user)
    try:
        for subject in forbidden:
            await nc.subscribe(subject)
        await nc.subscribe(f"{subjects.inbox_prefix(user)}.own")  # its own: allowed
        await _settle(nc)
    finally:
        await nc.close()
    allowed = [s for s in forbidden if not conn.refused("subscription", s)]
    assert not allowed, f"{user} may subscribe to {allowed}"
    assert not conn.refused("subscription", f"{subjects.inbox_prefix(user)}.own")


def _forbidden_jetstream() -> list[str]:
    calls = []
    for spec in STREAMS:
        for verb in ("CREATE", "UPDATE", "DELETE", "PURGE", "MSG.DELETE"):
            calls.append(f"$JS.API.STREAM.{verb}.{spec.name}")
        durables = [d for access in spec.access.values() for d in access.durables]
        for consumer in [*durables, "someone-else"]:
            calls.append(f"$JS.API.CONSUMER.DELETE.{spec.name}.{consumer}")
    calls.append("$JS.API.STREAM.CREATE.ROGUE")
    return calls


@pytest.mark.parametrize("user", ops.RUNTIME_USERS)
async def test_runtime_users_cannot_manage_streams_or_delete_consumers(
    nats_server: NatsFixture, user: str
) -> None:
    calls = _forbidden_jetstream()
    # Another service's durable may not be created or taken over either.
    for spec in STREAMS:
        for owner, access in spec.access.items():
            if owner != user:
                for durable in access.durables:
                    calls.append(f"$JS.API.CONSUMER.DURABLE.CREATE.{spec.name}.{durable}")
    conn = Connection()
    nc = await conn.open(nats_server, user)
    try:
        for subject in calls:
            await nc.publish(subject, b"{}")
        await _settle(nc)
    finally:
        await nc.close()
    accepted = [c for c in calls if not conn.refused("publish", c)]
    assert not accepted, f"{user} may call {accepted}"


async def test_secrets_user_cannot_shrink_or_delete_the_audit_stream(
    nats_server: NatsFixture,
) -> None:
    conn = Connection()
    nc = await conn.open(nats_server, "secrets")
    js = nc.jetstream(timeout=1)
    try:
        config = (await js.stream_info(subjects.AUDIT_STREAM)).config
        config.max_msgs = 5
        config.discard = DiscardPolicy.OLD
        with pytest.raises(nats.errors.TimeoutError):
            await js.update_stream(config)
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_stream(subjects.AUDIT_STREAM)
        await _settle(nc)
        still = (await js.stream_info(subjects.AUDIT_STREAM)).config
    finally:
        await nc.close()
    assert conn.refused("publish", f"$JS.API.STREAM.UPDATE.{subjects.AUDIT_STREAM}")
    assert conn.refused("publish", f"$JS.API.STREAM.DELETE.{subjects.AUDIT_STREAM}")
    assert still.max_msgs in (None, -1)
    assert still.deny_delete
    assert still.deny_purge


async def test_gateway_spy_sees_no_value_while_values_are_used(
    nats_server: NatsFixture, unique: str
) -> None:
    org, deployment = f"spy-{unique}", "web"
    key = nats_server.data.jwt_key_file.read_text().strip()
    token = issue_token(key, org=org, role="admin", sub="admin-1", ttl_seconds=600)
    headers = {"Authorization": f"Bearer {token}"}
    seen: list[Msg] = []
    spy = Connection()
    spy_nc = await spy.open(nats_server, "gateway")

    async def collect(msg: Msg) -> None:
        seen.append(msg)

    try:
        for subject in service_permissions()["gateway"].subscribe:
            await spy_nc.subscribe(subject, cb=collect)
        await _settle(spy_nc)
        assert not spy.errors, spy.errors
        async with (
            running_stack(nats_server) as stack,
            bus_as(nats_server, "platform") as platform,
        ):
            created = await stack.http.post(
                "/api/v1/secrets", json={"key": "API_KEY", "value": CANARY}, headers=headers
            )
            assert created.status_code == 201, created.text
            rendered = await request(
                platform,
                ops.TEMPLATE_RENDER,
                TemplateRenderRequest(
                    organization_id=org,
                    deployment_id=deployment,
                    revision=1,
                    env_file="KEY={{ .Secrets.API_KEY }}\n",
                ),
                timeout=10,
            )
            assert rendered.env_file is not None
            assert CANARY in rendered.env_file.get_secret_value()  # the platform got it
            validated = await stack.http.post(
                "/api/v1/templates/validate",
                json={"envFile": "KEY={{ .Secrets.API_KEY }}\n"},
                headers=headers,
            )
            assert validated.status_code == 200, validated.text
            await _publish_logs(platform.connection, org, deployment)
            await _wait_for_redacted(stack.http, deployment, headers)
            assert (await stack.http.get("/readyz")).status_code == 200
        await _settle(spy_nc)
    finally:
        await spy_nc.close()
    assert seen, "the spy received nothing: it proves nothing"
    leaked = [m.subject for m in seen if CANARY.encode() in m.data]
    assert not leaked, f"values reached the gateway's subscriptions on {leaked}"
    assert not [m for m in seen if m.subject.startswith(subjects.inbox_prefix("platform"))]


async def _publish_logs(nc: NatsClient, org: str, deployment: str) -> None:
    batch = [
        LogRecord(
            deployment_id=deployment,
            timestamp=datetime.now(UTC),
            body=f"line {i}: token={CANARY}",
        ).model_dump(mode="json", by_alias=True)
        for i in range(20)
    ]
    await nc.jetstream().publish(
        subjects.logs_raw(org, deployment), json.dumps(batch).encode(), timeout=10
    )


async def _wait_for_redacted(http: object, deployment: str, headers: dict[str, str]) -> None:
    for _ in range(200):
        page = await http.get(f"/api/v1/deployments/{deployment}/logs", headers=headers)  # type: ignore[attr-defined]
        if page.status_code == 200 and len(page.json()["items"]) >= 20:
            assert CANARY not in page.text
            return
        await asyncio.sleep(0.05)
    pytest.fail("redacted records never arrived")


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[NatsFixture]:
    fixture = start_nats(tmp_path / "nats")
    yield fixture
    fixture.server.stop()


async def _as_bootstrap(fixture: NatsFixture) -> NatsClient:
    return await nats.connect(
        fixture.url,
        user="bootstrap",
        password=fixture.data.passwords()["bootstrap"],
        inbox_prefix=subjects.inbox_prefix("bootstrap"),
    )


async def test_readyz_is_not_ready_when_the_audit_stream_could_drop_events(
    private_nats: NatsFixture,
) -> None:
    async with running_stack(private_nats) as stack:
        assert (await stack.http.get("/readyz")).status_code == 200
        nc = await _as_bootstrap(private_nats)
        try:
            js = nc.jetstream()
            config = (await js.stream_info(subjects.AUDIT_STREAM)).config
            config.max_msgs = 1000
            config.discard = DiscardPolicy.OLD
            await js.update_stream(config)
        finally:
            await nc.close()
        ready = await stack.http.get("/readyz")
        async with bus_as(private_nats, "gateway") as gateway:
            health = await request(gateway, ops.HEALTH_SECRETS, HealthRequest(), timeout=5)
    assert ready.status_code == 503
    assert "secrets" in ready.json()["error"]["message"]
    assert health.ready is False
    problem = health.checks[f"stream {subjects.AUDIT_STREAM}"]
    assert "max_msgs" in problem
    assert "discard" in problem


async def test_a_service_without_its_streams_says_so_and_creates_nothing(
    tmp_path: Path,
) -> None:
    fixture = start_nats(tmp_path / "nats", setup=False)
    try:
        async with (
            running_stack(fixture, services=("secrets",)),
            bus_as(fixture, "gateway") as gateway,
        ):
            health = await request(gateway, ops.HEALTH_SECRETS, HealthRequest(), timeout=5)
        nc = await _as_bootstrap(fixture)
        try:
            with pytest.raises(NotFoundError):
                await nc.jetstream().stream_info(subjects.AUDIT_STREAM)
        finally:
            await nc.close()
    finally:
        fixture.server.stop()
    assert health.ready is False
    assert health.checks[f"stream {subjects.AUDIT_STREAM}"].startswith("missing")
    assert health.checks[f"stream {subjects.kv_stream(subjects.SECRETS_BUCKET)}"].startswith(
        "missing"
    )


async def test_setup_step_is_idempotent_and_restores_a_drifted_stream(
    private_nats: NatsFixture,
) -> None:
    settings = SetupSettings(
        nats_url=private_nats.url,
        nats_user="bootstrap",
        nats_password=private_nats.data.passwords()["bootstrap"],
    )
    assert await setup_streams(settings) == []  # the fixture already ran it
    nc = await _as_bootstrap(private_nats)
    try:
        js = nc.jetstream()
        config = (await js.stream_info(subjects.AUDIT_STREAM)).config
        config.max_msgs = 5
        config.discard = DiscardPolicy.OLD
        await js.update_stream(config)
        assert await setup_streams(settings) == [f"updated {subjects.AUDIT_STREAM}"]
        restored = (await js.stream_info(subjects.AUDIT_STREAM)).config
    finally:
        await nc.close()
    assert restored.max_msgs in (None, -1)
    assert restored.discard == DiscardPolicy.NEW
