"""The Helm chart's bus-service probes: HTTP GETs of the process's own metrics endpoint.

They must keep answering while NATS is down (a NATS outage must not restart every pod), and
they must not need a new process per probe.
"""

import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers import spawn_with_metrics, start_nats


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return int(resp.status)
    except (urllib.error.URLError, OSError):
        return 0


def _wait_for(url: str, deadline: float) -> int:
    status = 0
    while time.monotonic() < deadline and status != 200:
        status = _get(url)
        if status != 200:
            time.sleep(0.2)
    return status


def test_bus_service_liveness_endpoint_survives_a_nats_outage(tmp_path: Path) -> None:
    fixture = start_nats(tmp_path / "nats")
    started = spawn_with_metrics(fixture, "renderer")
    proc, url = started.proc, started.metrics_url
    try:
        assert _wait_for(url, time.monotonic() + 60) == 200
        fixture.server.stop()
        # NATS is gone: the service keeps reconnecting, and the probe target keeps answering.
        for _ in range(5):
            assert _get(url) == 200
            assert proc.poll() is None
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        fixture.server.stop()
