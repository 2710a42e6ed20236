"""``sigil keys rotate`` on 1,000 secrets: values and versions unchanged, old key retirable."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sigil_secrets import admin
from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_shared import subjects
from sigil_shared.contracts import SecretResolveReply, SecretResolveRequest
from sigil_shared.errors import SigilError
from sigil_shared.settings import SecretsSettings
from tests.helpers import NatsFixture, start_nats
from tests.integration.bus_client import SecretsClient, actor, bus_as
from tests.integration.stack import running_stack

pytestmark = pytest.mark.slow
COUNT = 1000


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[NatsFixture]:
    fixture = start_nats(tmp_path / "nats")
    yield fixture
    fixture.server.stop()


async def _resolve(nats_fixture: NatsFixture, org: str) -> dict[str, str]:
    async with bus_as(nats_fixture, "renderer") as renderer:
        reply = await SecretsClient(renderer).call(
            subjects.SECRET_RESOLVE, SecretResolveRequest(organization_id=org), SecretResolveReply
        )
    return {s.key: s.value.get_secret_value() for s in reply.secrets}


async def test_rotation_rewraps_every_data_key_and_keeps_values(
    private_nats: NatsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service re-reads the keyring file at most once a second; make it immediate here.
    monkeypatch.setattr(KeyringSource, "CHECK_INTERVAL", 0.0)
    org = "rot"
    settings = SecretsSettings(
        kek_file=private_nats.data.kek_file,
        audit_key_file=private_nats.data.audit_key_file,
        **private_nats.creds("secrets"),
    )
    expected = {f"S{i:04d}": f"value-{i}-rotation" for i in range(COUNT)}
    async with (
        running_stack(private_nats, services=("secrets",)),
        bus_as(private_nats, "gateway") as broker,
    ):
        client = SecretsClient(broker)
        sem = asyncio.Semaphore(64)

        async def create(key: str, value: str) -> None:
            async with sem:
                await client.create(actor(org), key, value)

        await asyncio.gather(*(create(k, v) for k, v in expected.items()))
        old_keys = set(await admin.keys_in_use(settings))
        assert len(old_keys) == 1

        admin.add_key(private_nats.data.kek_file, "rotated-1")
        progress: list[tuple[int, int]] = []
        report = await admin.rewrap_all(settings, progress=lambda d, t: progress.append((d, t)))
        assert report.current_key == "rotated-1"
        # One envelope per secret: version 1 lives in the record until a second version.
        assert report.rewrapped == report.envelopes == COUNT
        assert progress[-1] == (COUNT, COUNT)
        assert await admin.keys_in_use(settings) == {"rotated-1": COUNT}
        again = await admin.rewrap_all(settings, progress=lambda d, t: None)
        assert again.rewrapped == 0

        # Retire the old key: only the new one remains in the keyring.
        lines = private_nats.data.kek_file.read_text().splitlines()
        private_nats.data.kek_file.write_text(lines[0] + "\n")
        assert await _resolve(private_nats, org) == expected
        listed = await client.list(actor(org), limit=1000)
        assert all(item.version == 1 for item in listed.items)

        # A wrong keyring is a clear error, never garbage.
        other = "wrong:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUY="
        private_nats.data.kek_file.write_text(other + "\n")
        with pytest.raises(SigilError) as info:
            await _resolve(private_nats, org)
        assert "rotated-1" in info.value.message
        assert "not in the keyring" in info.value.message
