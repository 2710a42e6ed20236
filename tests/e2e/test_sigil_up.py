"""``sigil up`` as a user runs it: ready over real sockets, nothing left after SIGTERM."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sigil_cli.embedded import NatsServer
from tests.e2e.conftest import start_sigil_up, stop_sigil_up, wait_for_line
from tests.helpers import alive, descendants, free_port

pytestmark = pytest.mark.slow


def test_sigil_up_serves_ready_and_leaves_no_process(tmp_path: Path) -> None:
    port = free_port()
    proc = start_sigil_up(tmp_path / "data", "--nats-port", "-1", "--port", str(port))
    try:
        lines = wait_for_line(proc, "Press Ctrl-C to stop", timeout=60)
        assert any(f"http://127.0.0.1:{port}" in line for line in lines)
        resp = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert resp.status_code == 200
        children = descendants(proc.pid)
        assert len(children) >= 5, "nats-server and four services run as children"
        for name in ("jwt.key", "kek.keys", "audit.keys", "nats-users.json", "nats.conf"):
            mode = (tmp_path / "data" / name).stat().st_mode & 0o777
            assert mode == 0o600, f"{name} is {oct(mode)}"
    finally:
        status = stop_sigil_up(proc)
    assert status == 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if alive(pid)]


def test_service_stops_with_one_line_naming_a_missing_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGIL_")}
    result = subprocess.run(
        [sys.executable, "-m", "sigil_secrets"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SIGIL_KEK" in lines[0]


def test_token_is_printed_with_the_stack_down(tmp_path: Path) -> None:
    (tmp_path / "jwt.key").write_text("k" * 48)
    sigil = Path(sys.executable).parent / "sigil"
    out = subprocess.run(
        [
            str(sigil),
            "--data-dir",
            str(tmp_path),
            "token",
            "--org",
            "acme",
            "--role",
            "admin",
            "--customer-org",
            "cust-1",
            "--sub",
            "alice",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    import jwt

    claims = jwt.decode(out.stdout.strip(), "k" * 48, algorithms=["HS256"])
    assert claims["org"] == "acme"
    assert claims["customer_org"] == "cust-1"
    assert claims["role"] == "admin"
    assert claims["sub"] == "alice"
    assert claims["exp"] > claims["iat"]


def test_sigil_up_uses_an_existing_nats(tmp_path: Path) -> None:
    conf = tmp_path / "plain.conf"
    store = tmp_path / "js"
    conf.write_text(f'{{"host": "127.0.0.1", "port": -1, "jetstream": {{"store_dir": "{store}"}}}}')
    server = NatsServer(conf)
    url = server.start()
    port = free_port()
    proc = start_sigil_up(tmp_path / "data", "--nats-url", url, "--port", str(port))
    try:
        lines = wait_for_line(proc, "Press Ctrl-C to stop", timeout=60)
        assert any(url in line for line in lines)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    finally:
        status = stop_sigil_up(proc)
        server.stop()
    assert status == 0
