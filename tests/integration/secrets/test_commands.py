"""Secrets commands over a real nats-server: CRUD, roles, scopes, tenants, races, errors."""

import asyncio
import json

import pytest

from sigil_shared import subjects
from sigil_shared.contracts import Actor
from sigil_shared.errors import (
    ConflictError,
    ForbiddenError,
    InvalidKeyError,
    InvalidMessageError,
    InvalidValueError,
    NotFoundError,
    SigilError,
    ValueTooLargeError,
    VersionConflictError,
)
from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, actor, bus_as
from tests.integration.stack import running_stack

CANARY = "canary-Qx7-sekret-value"


async def _by_id(client: SecretsClient, command: str, who: Actor, secret_id: str) -> object:
    if command == "get":
        return await client.get(who, secret_id)
    if command == "update":
        return await client.update(who, secret_id, CANARY + "evil")
    return await client.delete(who, secret_id)


async def test_vendor_crud_with_versions(client: SecretsClient, org: str) -> None:
    admin = actor(org, user="alice")
    editor = actor(org, role="read_write", user="bob")
    created = await client.create(admin, "DB_PASSWORD", CANARY + "1")
    assert (created.key, created.version, created.customer_organization_id) == (
        "DB_PASSWORD",
        1,
        None,
    )
    assert created.created_by == created.updated_by == "alice"
    updated = await client.update(editor, created.id, CANARY + "2")
    assert updated.version == 2
    assert updated.updated_by == "bob"
    assert updated.created_by == "alice"
    detail = await client.get(admin, created.id)
    assert [(v.version, v.created_by) for v in detail.versions] == [(2, "bob"), (1, "alice")]
    assert CANARY not in detail.model_dump_json()
    await client.delete(editor, created.id)
    with pytest.raises(NotFoundError):
        await client.get(admin, created.id)
    assert (await client.list(admin)).items == []
    again = await client.create(admin, "DB_PASSWORD", CANARY + "3")
    assert again.id != created.id
    # Versions of a key never repeat: the re-created secret continues after version 2, so
    # a revision pinned to the deleted secret's versions can never pick up this value.
    assert again.version == 3


async def test_customer_crud_in_own_scope(client: SecretsClient, org: str) -> None:
    cust = actor(org, role="read_write", customer="cust-1")
    created = await client.create(cust, "TOKEN", CANARY)
    assert created.customer_organization_id == "cust-1"
    same = await client.create(cust, "OTHER", CANARY, customer="cust-1")
    assert same.customer_organization_id == "cust-1"
    with pytest.raises(ForbiddenError):
        await client.create(cust, "NOPE", CANARY, customer="cust-2")
    await client.update(cust, created.id, CANARY + "x")
    await client.delete(cust, created.id)


async def test_same_key_in_different_scopes_and_duplicate_conflict(
    client: SecretsClient, org: str
) -> None:
    admin = actor(org)
    await client.create(admin, "API_KEY", CANARY)
    await client.create(admin, "API_KEY", CANARY, customer="c1")
    await client.create(admin, "API_KEY", CANARY, customer="c2")
    with pytest.raises(ConflictError) as info:
        await client.create(admin, "API_KEY", CANARY + "again", customer="c1")
    assert "API_KEY" in info.value.message
    assert CANARY not in info.value.message
    # Keys are case-sensitive.
    await client.create(admin, "api_key", CANARY)


@pytest.mark.parametrize("role", ["read_only", "read_write", "admin"])
@pytest.mark.parametrize("customer", [None, "cust-9"])
async def test_role_table(client: SecretsClient, org: str, role: str, customer: str | None) -> None:
    owner = actor(org, customer=customer)
    existing = await client.create(owner, "EXISTING", CANARY, customer=customer)
    who = actor(org, role=role, customer=customer)
    assert [i.key for i in (await client.list(who)).items] == ["EXISTING"]
    assert (await client.get(who, existing.id)).key == "EXISTING"
    if role == "read_only":
        for attempt in (
            lambda: client.create(who, "NEW", CANARY),
            lambda: client.update(who, existing.id, CANARY),
            lambda: client.delete(who, existing.id),
        ):
            with pytest.raises(ForbiddenError):
                await attempt()
        assert (await client.get(owner, existing.id)).version == 1
    else:
        await client.create(who, "NEW", CANARY)
        assert (await client.update(who, existing.id, CANARY + "2")).version == 2
        await client.delete(who, existing.id)


async def test_vendor_sees_all_scopes_and_filters(client: SecretsClient, org: str) -> None:
    admin = actor(org)
    await client.create(admin, "B_VENDOR", CANARY)
    await client.create(admin, "A_C1", CANARY, customer="c1")
    await client.create(admin, "C_C2", CANARY, customer="c2")
    keys = [i.key for i in (await client.list(actor(org, role="read_only"))).items]
    assert keys == ["A_C1", "B_VENDOR", "C_C2"]
    c1 = await client.list(admin, customer_organization_id="c1")
    assert [i.key for i in c1.items] == ["A_C1"]
    vendor = await client.list(admin, vendor_only=True)
    assert [i.key for i in vendor.items] == ["B_VENDOR"]
    customer = await client.list(actor(org, role="read_only", customer="c2"))
    assert [i.key for i in customer.items] == ["C_C2"]
    with pytest.raises(ForbiddenError):
        await client.list(actor(org, customer="c2"), customer_organization_id="c1")


async def test_cross_tenant_matrix_is_not_found_everywhere(
    client: SecretsClient, org: str, unique: str
) -> None:
    """Org A's secrets against every outsider: org B (vendor, customer) and A's other customer."""
    owner = actor(org)
    targets = {
        "vendor": await client.create(owner, "V", CANARY),
        "c1": await client.create(owner, "C1", CANARY, customer="c1"),
        "c2": await client.create(owner, "C2", CANARY, customer="c2"),
    }
    other = f"orgb-{unique}"
    outsiders: list[tuple[Actor, list[str]]] = [
        (actor(other, role=role), ["vendor", "c1", "c2"]) for role in ("read_only", "admin")
    ] + [
        (actor(other, role="admin", customer="c1"), ["vendor", "c1", "c2"]),
        (actor(org, role="admin", customer="c1"), ["vendor", "c2"]),
        (actor(org, role="read_write", customer="c2"), ["vendor", "c1"]),
    ]
    cells = 0
    for who, names in outsiders:
        for name in names:
            secret_id = targets[name].id
            for command in ("get", "update", "delete"):
                with pytest.raises(NotFoundError):
                    await _by_id(client, command, who, secret_id)
                cells += 1
        listed = {i.id for i in (await client.list(who)).items}
        assert not listed & {targets[n].id for n in names}
    assert cells == 3 * (3 * 3 + 2 + 2)
    for meta in targets.values():
        assert (await client.get(owner, meta.id)).version == 1


async def test_two_creates_of_one_key_race_and_exactly_one_wins(
    client: SecretsClient, org: str
) -> None:
    admin = actor(org)
    for round_ in range(5):
        key = f"RACE_{round_}"
        results = await asyncio.gather(
            *(client.create(admin, key, f"{CANARY}{i}") for i in range(4)),
            return_exceptions=True,
        )
        wins = [r for r in results if not isinstance(r, BaseException)]
        losses = [r for r in results if isinstance(r, BaseException)]
        assert len(wins) == 1, results
        assert all(isinstance(r, ConflictError) for r in losses), losses
    assert len((await client.list(admin)).items) == 5


async def test_two_updates_with_one_expected_version_and_exactly_one_wins(
    client: SecretsClient, org: str
) -> None:
    admin = actor(org)
    meta = await client.create(admin, "ROTATED", CANARY)
    results = await asyncio.gather(
        *(client.update(admin, meta.id, f"{CANARY}-{i}", expected=1) for i in range(4)),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert len(wins) == 1, results
    assert all(isinstance(r, VersionConflictError) for r in results if r not in wins)
    assert (await client.get(admin, meta.id)).version == 2
    with pytest.raises(VersionConflictError) as info:
        await client.update(admin, meta.id, CANARY, expected=1)
    assert info.value.details["currentVersion"] == 2


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("_API_KEY", "must start with a letter"),
        ("123_KEY", "must start with a letter"),
        ("API-KEY", "only ASCII letters, digits and underscores"),
        ("API KEY", "only ASCII letters, digits and underscores"),
        ("KÉY", "only ASCII letters, digits and underscores"),
        ("A$B", "only ASCII letters, digits and underscores"),
        ("A.B", "only ASCII letters, digits and underscores"),
        ("K" * 257, "at most 256 characters"),
    ],
)
async def test_invalid_key_names_the_rule(
    client: SecretsClient, org: str, key: str, rule: str
) -> None:
    with pytest.raises(InvalidKeyError) as info:
        await client.create(actor(org), key, CANARY)
    assert rule in info.value.message
    assert CANARY not in info.value.message


async def test_value_rules(client: SecretsClient, org: str) -> None:
    admin = actor(org)
    with pytest.raises(InvalidValueError):
        await client.create(admin, "EMPTY", "")
    with pytest.raises(ValueTooLargeError) as info:
        await client.create(admin, "HUGE", CANARY * 4000)
    assert CANARY not in json.dumps([info.value.message, info.value.details])
    exact = "x" * 64 * 1024
    assert (await client.create(admin, "EXACT", exact)).version == 1
    multi = await client.create(admin, "PEM", "-----BEGIN-----\nline\n-----END-----\n")
    assert multi.version == 1
    assert (await client.list(admin)).items[0].key == "EXACT"


async def test_too_short_values_are_flagged(client: SecretsClient, org: str) -> None:
    admin = actor(org)
    short = await client.create(admin, "PIN", "123")
    assert short.too_short_to_mask is True
    longer = await client.update(admin, short.id, "123456")
    assert longer.too_short_to_mask is False


async def test_schema_invalid_command_gets_invalid_message(client: SecretsClient, org: str) -> None:
    raw = await client.broker.request(
        {"actor": {"userId": "u", "organizationId": "x.y", "role": "admin"}, "value": CANARY},
        subjects.SECRET_CREATE,
        timeout=5,
    )
    body = json.loads(raw.body)
    assert body["error"]["code"] == InvalidMessageError.code
    assert CANARY not in raw.body.decode()
    del org


async def test_listing_pages_by_key(client: SecretsClient, org: str) -> None:
    admin = actor(org)
    keys = [f"K{i:03d}" for i in range(25)]
    await asyncio.gather(*(client.create(admin, k, CANARY) for k in keys))
    seen: list[str] = []
    cursor = None
    while True:
        page = await client.list(admin, limit=10, cursor=cursor)
        seen += [i.key for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == keys
    with pytest.raises(SigilError) as info:
        await client.list(admin, cursor="garbage!!")
    assert info.value.code == "invalid_request"


async def test_history_is_bounded(nats_server: NatsFixture, org: str) -> None:
    async with (
        running_stack(
            nats_server, services=("secrets", "renderer"), overrides={"secrets": {"history": 3}}
        ),
        bus_as(nats_server, "gateway") as broker,
    ):
        client = SecretsClient(broker)
        meta = await client.create(actor(org), "ROTATING", f"{CANARY}-1")
        for version in range(2, 6):
            await client.update(actor(org), meta.id, f"{CANARY}-{version}")
        detail = await client.get(actor(org), meta.id)
    assert detail.version == 5
    assert [v.version for v in detail.versions] == [5, 4, 3]
