"""Smoke."""

from tests.integration.bus_client import SecretsClient, actor


async def test_create_get_list(client: SecretsClient, org: str) -> None:
    admin = actor(org)
    meta = await client.create(admin, "API_KEY", "value-1")
    assert meta.version == 1
    detail = await client.get(admin, meta.id)
    assert detail.key == "API_KEY"
    page = await client.list(admin)
    assert [i.key for i in page.items] == ["API_KEY"]
    upd = await client.update(admin, meta.id, "value-2")
    assert upd.version == 2
    await client.delete(admin, meta.id)
