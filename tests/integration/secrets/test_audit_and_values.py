"""Audit events, change events and the internal value subjects over a real nats-server."""

import asyncio
import json

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from sigil_redactor.adapters.sources import BusValuesSource
from sigil_secrets.domain.audit_chain import StoredEvent, verify_chain
from sigil_secrets.domain.crypto import Keyring
from sigil_shared import subjects
from sigil_shared.contracts import (
    AuditEvent,
    PinnedVersion,
    SecretResolveReply,
    SecretResolveRequest,
)
from sigil_shared.errors import ForbiddenError, NotFoundError
from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, actor, bus_as

CANARY = "canary-Audit-7731-value"


async def _collect(nc: NatsClient, subject: str) -> tuple[list[Msg], object]:
    seen: list[Msg] = []

    async def on_msg(msg: Msg) -> None:
        seen.append(msg)

    sub = await nc.subscribe(subject, cb=on_msg)
    await nc.flush()
    return seen, sub


async def test_every_command_is_audited_without_values(
    client: SecretsClient, org: str, platform_nc: NatsClient, nats_server: NatsFixture
) -> None:
    published, sub = await _collect(platform_nc, f"sigil.audit.{org}.>")
    admin = actor(org, user="alice")
    meta = await client.create(admin, "STRIPE_KEY", CANARY)
    await client.update(admin, meta.id, CANARY + "-v2")
    with pytest.raises(ForbiddenError):
        await client.delete(actor(org, role="read_only", user="mallory"), meta.id)
    with pytest.raises(NotFoundError):
        await client.update(admin, "0" * 32, CANARY)
    await client.delete(admin, meta.id)
    page = await client.audit(admin)
    outcomes = [(e.action, e.outcome.value, e.actor_id) for e in page.items]
    assert outcomes == [
        ("create", "success", "alice"),
        ("update", "success", "alice"),
        ("delete", "refused", "mallory"),
        ("update", "refused", "alice"),
        ("delete", "success", "alice"),
    ]
    assert page.items[0].key == "STRIPE_KEY"
    assert page.items[1].version == 2
    assert page.items[2].error_code == "forbidden"
    assert all(e.request_id for e in page.items)
    keyring = Keyring.parse(nats_server.data.audit_key_file.read_text())
    stored = [
        StoredEvent(n, subjects.audit(org, e.action), e.model_dump_json().encode())
        for n, e in enumerate(page.items, start=1)
    ]
    prefix = subjects.audit_org(org)[:-1]
    assert verify_chain(org, stored, keyring=keyring, subject_prefix=prefix).intact
    await platform_nc.flush()
    await asyncio.sleep(0.05)
    await sub.unsubscribe()  # type: ignore[attr-defined]
    assert [m.subject for m in published] == [
        f"sigil.audit.{org}.{a}" for a in ("create", "update", "delete", "update", "delete")
    ]
    wire = page.model_dump_json() + "".join(m.data.decode() for m in published)
    assert CANARY not in wire


async def test_audit_query_filters_pages_and_is_admin_only(client: SecretsClient, org: str) -> None:
    admin = actor(org, user="alice")
    for i in range(5):
        await client.create(admin, f"K{i}", CANARY)
    await client.create(actor(org, user="bob"), "BOBS", CANARY)
    by_bob = await client.audit(admin, actor_id="bob")
    assert [e.key for e in by_bob.items] == ["BOBS"]
    by_key = await client.audit(admin, key="K3")
    assert [e.key for e in by_key.items] == ["K3"]
    first = await client.audit(admin, limit=4)
    assert len(first.items) == 4
    assert first.next_cursor is not None
    second = await client.audit(admin, limit=4, cursor=first.next_cursor)
    assert [e.key for e in second.items] == ["K4", "BOBS"]
    assert second.next_cursor is None
    with pytest.raises(ForbiddenError):
        await client.audit(actor(org, role="read_write"))
    customer_view = await client.audit(actor(org, customer="c1"))
    assert customer_view.items == []


async def test_change_events_carry_no_value(
    client: SecretsClient, org: str, platform_nc: NatsClient
) -> None:
    seen, sub = await _collect(platform_nc, f"sigil.events.secret.*.{org}")
    admin = actor(org)
    meta = await client.create(admin, "PIN", "123")
    await client.update(admin, meta.id, CANARY)
    await client.delete(admin, meta.id)
    await platform_nc.flush()
    for _ in range(50):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.02)
    await sub.unsubscribe()  # type: ignore[attr-defined]
    bodies = [json.loads(m.data) for m in seen]
    assert [(b["change"], b["version"], b["tooShortToMask"]) for b in bodies] == [
        ("created", 1, True),
        ("updated", 2, False),
        ("deleted", 2, False),
    ]
    assert all(b["key"] == "PIN" and b["customerOrganizationId"] is None for b in bodies)
    assert CANARY not in "".join(m.data.decode() for m in seen)
    assert all(value != "123" for body in bodies for value in body.values())


async def test_resolve_merges_scopes_and_honours_pins(
    client: SecretsClient, org: str, nats_server: NatsFixture
) -> None:
    admin = actor(org)
    await client.create(admin, "SHARED", "vendor-shared-value")
    await client.create(admin, "ONLY_VENDOR", "vendor-only-value")
    override = await client.create(admin, "SHARED", "customer-shared-v1", customer="c1")
    await client.create(admin, "ELSEWHERE", "c2-only-value", customer="c2")
    await client.update(admin, override.id, "customer-shared-v2")
    async with bus_as(nats_server, "renderer") as renderer:

        async def resolve(
            customer: str | None, pinned: list[PinnedVersion] | None = None
        ) -> dict[str, str]:
            reply = await SecretsClient(renderer).call(
                subjects.SECRET_RESOLVE,
                SecretResolveRequest(
                    organization_id=org, customer_organization_id=customer, pinned=pinned
                ),
                SecretResolveReply,
            )
            return {s.key: s.value.get_secret_value() for s in reply.secrets}

        assert await resolve(None) == {
            "ONLY_VENDOR": "vendor-only-value",
            "SHARED": "vendor-shared-value",
        }
        assert await resolve("c1") == {
            "ONLY_VENDOR": "vendor-only-value",
            "SHARED": "customer-shared-v2",
        }
        pinned = [PinnedVersion(key="SHARED", customer_organization_id="c1", version=1)]
        assert (await resolve("c1", pinned))["SHARED"] == "customer-shared-v1"


async def test_redaction_values_cover_old_versions_and_deleted_secrets(
    client: SecretsClient, org: str, nats_server: NatsFixture
) -> None:
    admin = actor(org)
    rotated = await client.create(admin, "ROTATED", "old-rotated-value")
    await client.update(admin, rotated.id, "new-rotated-value")
    gone = await client.create(admin, "GONE", "deleted-value", customer="c1")
    await client.delete(admin, gone.id)
    await client.create(admin, "OTHER_CUSTOMER", "other-customer-value", customer="c2")
    pins = [
        PinnedVersion(key="ROTATED", version=1),
        PinnedVersion(key="GONE", customer_organization_id="c1", version=1),
    ]
    values = await _mask_set(nats_server, org, "c1", pins)
    assert values == {"old-rotated-value", "new-rotated-value", "deleted-value"}


async def test_values_replaced_or_deleted_just_now_stay_masked_without_receipts(
    client: SecretsClient, org: str, nats_server: NatsFixture
) -> None:
    # A line written just before a rotation (or delete) can reach the redactor after it:
    # red team, 434 lines stored in clear under load. No pin names these versions.
    admin = actor(org)
    rotated = await client.create(admin, "ROTATED", "old-rotated-value")
    await client.update(admin, rotated.id, "new-rotated-value")
    gone = await client.create(admin, "GONE", "deleted-value", customer="c1")
    await client.delete(admin, gone.id)
    elsewhere = await client.create(admin, "ELSEWHERE", "other-customer-old", customer="c2")
    await client.update(admin, elsewhere.id, "other-customer-new")

    assert await _mask_set(nats_server, org, "c1") == {
        "old-rotated-value",
        "new-rotated-value",
        "deleted-value",
    }
    assert await _mask_set(nats_server, org, None, all_customers=True) == {
        "old-rotated-value",
        "new-rotated-value",
        "deleted-value",
        "other-customer-old",
        "other-customer-new",
    }


async def test_audit_events_are_typed_contracts(
    client: SecretsClient, org: str, nats_server: NatsFixture
) -> None:
    await client.create(actor(org), "TYPED", CANARY)
    event = (await client.audit(actor(org))).items[0]
    assert isinstance(event, AuditEvent)
    assert len(event.hash) == 64
    assert (event.chain_seq, event.key_id) == (
        1,
        Keyring.parse(nats_server.data.audit_key_file.read_text()).current,
    )


async def test_values_beyond_one_bus_message_reach_the_redactor_in_pages(
    client: SecretsClient, org: str, nats_server: NatsFixture
) -> None:
    # Red team: an organization's values and recently replaced versions came to 20 MB; the
    # one reply was over the bus's 4 MiB, so its logs were held and readiness failed.
    admin = actor(org)
    made = {f"{CANARY}-{n:03d}-".ljust(60_000, chr(0x41 + n % 26)) for n in range(75)}  # 4.5 MB
    for n, value in enumerate(sorted(made)):
        await client.create(admin, f"BIG_{n:03d}", value)
    async with bus_as(nats_server, "redactor") as redactor:
        got = await BusValuesSource(redactor, timeout=10).values(org, None, [], all_customers=True)
    assert len(got) == len(set(got)) == 75
    assert set(got) == made


async def _mask_set(
    fx: NatsFixture,
    org: str,
    customer: str | None,
    pins: list[PinnedVersion] | None = None,
    *,
    all_customers: bool = False,
) -> set[str]:
    """What the redactor gets to mask for a deployment of this scope (its own adapter)."""
    async with bus_as(fx, "redactor") as redactor:
        source = BusValuesSource(redactor, timeout=10)
        return set(await source.values(org, customer, pins or [], all_customers=all_customers))
