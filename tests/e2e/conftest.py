"""A live stack started the way a user starts it (``sigil up``), on free loopback ports."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import free_port


@dataclass
class LiveStack:
    """A running ``sigil up``."""

    url: str
    data_dir: Path
    proc: subprocess.Popen[str]

    def sigil(
        self, *args: str, token: str | None = None, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the ``sigil`` command against this stack."""
        env = dict(os.environ, SIGIL_URL=self.url)
        if token:
            env["SIGIL_TOKEN"] = token
        return subprocess.run(
            [str(Path(sys.executable).parent / "sigil"), "--data-dir", str(self.data_dir), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )

    def token(
        self, org: str, role: str = "admin", customer: str | None = None, sub: str = "u1"
    ) -> str:
        """A token from ``sigil token``."""
        args = ["token", "--org", org, "--role", role, "--sub", sub]
        if customer:
            args += ["--customer-org", customer]
        return self.sigil(*args).stdout.strip()


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    """Read stdout on a thread until ``needle`` appears; fail with what was printed."""
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stream = proc.stdout
    threading.Thread(target=lambda: [lines.put(ln) for ln in stream], daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=0.1).rstrip())
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        if needle in seen[-1]:
            return seen
    pytest.fail(f"{needle!r} not printed; output so far: {seen}")


def start_sigil_up(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    """``sigil --data-dir DIR up ARGS``, stdout piped for wait_for_line."""
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "sigil"), "--data-dir", str(data_dir), "up", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def stop_sigil_up(proc: subprocess.Popen[str]) -> int:
    """SIGTERM, wait (kill after 30 s), release the pipe; returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        status = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()
    return status


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    data_dir = tmp_path_factory.mktemp("live") / "data"
    port = free_port()
    proc = start_sigil_up(data_dir, "--nats-port", "-1", "--port", str(port))
    try:
        wait_for_line(proc, "Press Ctrl-C to stop", timeout=60)
        yield LiveStack(url=f"http://127.0.0.1:{port}", data_dir=data_dir, proc=proc)
    finally:
        stop_sigil_up(proc)
