"""``sigil up`` stops on SIGTERM even while a child is busy and the stack is not ready yet."""

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import start_sigil_up, stop_sigil_up
from tests.helpers import alive, descendants, free_port

pytestmark = pytest.mark.slow

#: Far below the old behaviour (SIGTERM ignored until the 60 s readiness timeout, then
#: 10 s per child) and far above the new one (5 s grace): a bound, not a benchmark.
STOP_BOUND = 30.0


def _child_running(parent: int, module: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in descendants(parent):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if module.encode() in cmdline:
                return pid
        time.sleep(0.05)
    pytest.fail(f"{module} never started")


def test_sigterm_stops_sigil_up_while_a_child_cannot_answer(tmp_path: Path) -> None:
    proc = start_sigil_up(tmp_path / "data", "--nats-port", "-1", "--port", str(free_port()))
    try:
        secrets = _child_running(proc.pid, "sigil_secrets", timeout=60)
        # A stopped process is the busiest child there is: it cannot act on SIGTERM, and
        # the stack can never become ready while it does not answer its health check.
        os.kill(secrets, signal.SIGSTOP)
        children = descendants(proc.pid)
        time.sleep(0.5)  # let sigil up settle into waiting for readiness
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        status = proc.wait(timeout=STOP_BOUND + 10)
        took = time.monotonic() - started
    finally:
        stop_sigil_up(proc)
    assert status == 0
    assert took < STOP_BOUND, f"sigil up took {took:.1f}s to stop"
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if alive(pid)], "a child outlived sigil up"
