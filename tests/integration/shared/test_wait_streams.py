"""The init container of the Helm chart: a service waits for the setup step's streams."""

import os
import subprocess
import sys
from pathlib import Path

from sigil_shared.settings import BusSettings
from sigil_shared.wait_streams import wait_for_streams
from tests.helpers import run_setup, start_nats


async def test_waits_for_the_setup_step_with_the_services_own_user(tmp_path: Path) -> None:
    fixture = start_nats(tmp_path / "nats", setup=False)
    try:
        renderer = BusSettings(**fixture.creds("renderer"))  # type: ignore[arg-type]
        missing = await wait_for_streams(renderer, "renderer", timeout=0.5)
        assert missing
        assert all("missing: run the setup step" in problem for problem in missing), missing
        password = fixture.data.passwords()["renderer"]
        assert not [p for p in missing if password in p]
        run_setup(fixture.url, fixture.data)
        assert await wait_for_streams(renderer, "renderer", timeout=30) == []
        for service in ("secrets", "redactor"):
            settings = BusSettings(**fixture.creds(service))  # type: ignore[arg-type]
            assert await wait_for_streams(settings, service, timeout=30) == []
    finally:
        fixture.server.stop()


def test_command_exits_non_zero_naming_what_is_missing(tmp_path: Path) -> None:
    fixture = start_nats(tmp_path / "nats", setup=False)
    try:
        creds = fixture.creds("secrets")
        env = dict(
            os.environ,
            SIGIL_NATS_URL=creds["nats_url"],
            SIGIL_NATS_USER="secrets",
            SIGIL_NATS_PASSWORD=creds["nats_password"],
        )
        command = [sys.executable, "-m", "sigil_shared.wait_streams", "secrets", "1"]
        proc = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 1
        assert "stream SIGIL_AUDIT: missing: run the setup step" in proc.stderr
        assert creds["nats_password"] not in proc.stderr + proc.stdout
        assert "Traceback" not in proc.stderr
        bad = subprocess.run(
            [sys.executable, "-m", "sigil_shared.wait_streams", "gateway"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert bad.returncode == 2
        assert "usage:" in bad.stdout
    finally:
        fixture.server.stop()
