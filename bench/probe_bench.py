"""CPU per health probe of a bus service, three ways, in the same run (issue 15, deploy kit).

A renderer runs against a real nats-server with its metrics endpoint on; each probe form is
run repeatedly and its CPU is measured:

- ``exec healthcheck``: ``python -m sigil_shared.healthcheck renderer`` (the old Helm exec
  probe: a new interpreter importing the bus stack, then a NATS round trip) — baseline;
- ``exec bare GET``: ``python -I -S -c urllib...`` of ``/metrics`` (the images' Docker
  HEALTHCHECK now);
- ``httpGet``: what a kubelet ``httpGet`` probe costs the pod: the service process's own CPU
  per ``GET /metrics`` (from /proc/<pid>/stat; the kubelet's side is not in the pod).

Figures are CPU milliseconds per probe (user + system): children's rusage for the exec
forms, the service's /proc delta for httpGet.

    .venv/bin/python -m bench.probe_bench [--execs 10] [--gets 200]
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.helpers import spawn_with_metrics, start_nats


def _proc_cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _exec_cost(command: list[str], env: dict[str, str], runs: int) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(runs):
        subprocess.run(command, env=env, capture_output=True, check=True, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return used * 1000 / runs


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
        except OSError:
            time.sleep(0.2)
        else:
            return
    raise SystemExit(f"{url} never answered")


def main() -> None:
    """Print CPU ms per probe for each form."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--execs", type=int, default=10)
    parser.add_argument("--gets", type=int, default=200)
    args = parser.parse_args()
    fixture = start_nats(Path(tempfile.mkdtemp()) / "nats")
    started = spawn_with_metrics(fixture, "renderer")
    service, env, url = started.proc, started.env, started.metrics_url
    try:
        _wait_ready(url)
        old = _exec_cost(
            [sys.executable, "-m", "sigil_shared.healthcheck", "renderer"], env, args.execs
        )
        bare = _exec_cost(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                f"import urllib.request,sys; sys.exit(urllib.request.urlopen('{url}', "
                "timeout=3).status != 200)",
            ],
            env,
            args.execs,
        )
        start = _proc_cpu_ms(service.pid)
        for _ in range(args.gets):
            urllib.request.urlopen(url, timeout=3).read()
        served = (_proc_cpu_ms(service.pid) - start) / args.gets
    finally:
        service.terminate()
        service.wait(timeout=30)
        fixture.server.stop()
    print(f"exec python -m sigil_shared.healthcheck (baseline): {old:8.1f} CPU ms/probe")
    print(f"exec python -I -S urllib GET /metrics:             {bare:8.1f} CPU ms/probe")
    print(f"httpGet /metrics, service process side:            {served:8.2f} CPU ms/probe")


if __name__ == "__main__":
    main()
