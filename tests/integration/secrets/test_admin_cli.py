"""``sigil audit verify`` and ``sigil keys status`` as an operator runs them."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import NatsFixture
from tests.integration.bus_client import SecretsClient, actor


async def test_audit_verify_reports_an_intact_chain(
    client: SecretsClient, org: str, nats_server: NatsFixture, tmp_path: Path
) -> None:
    for i in range(3):
        await client.create(actor(org), f"K{i}", "value-for-verify")
    creds = nats_server.creds("secrets")
    env = dict(
        os.environ,
        SIGIL_NATS_URL=creds["nats_url"],
        SIGIL_NATS_USER="secrets",
        SIGIL_NATS_PASSWORD=creds["nats_password"],
        SIGIL_KEK_FILE=str(nats_server.data.kek_file),
        SIGIL_AUDIT_KEY_FILE=str(nats_server.data.audit_key_file),
    )
    sigil = str(Path(sys.executable).parent / "sigil")
    verify = await asyncio.to_thread(
        subprocess.run,
        [sigil, "--data-dir", str(tmp_path), "audit", "verify", "--org", org],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    assert f"audit chain of {org}: 3 events, sequences " in verify.stdout
    assert verify.stdout.rstrip().endswith("intact")
    status = await asyncio.to_thread(
        subprocess.run,
        [sigil, "--data-dir", str(tmp_path), "keys", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip(), "one line per key-encryption key in use"
