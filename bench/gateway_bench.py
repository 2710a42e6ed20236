"""Requests/s and p99 through the gateway on the embedded stack, next to a FastAPI hello-world.

    .venv/bin/python -m bench.gateway_bench [--seconds 5] [--concurrency 16]

Starts ``sigil up`` (real sockets, loopback) and a hello-world with the same uvicorn, then
runs a bounded mixed load (1 create : 3 lists) against each for the same time. Asserts nothing.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.helpers import free_port


async def _load(
    base: str, seconds: float, concurrency: int, headers: dict[str, str], *, hello: bool
) -> tuple[float, float, float]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    counter = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors, counter
        while time.perf_counter() < stop:
            counter += 1
            n = counter
            start = time.perf_counter()
            if n % 4 == 0:
                path = "/hello" if hello else "/api/v1/secrets"
                resp = await client.post(
                    path, json={"key": f"K{n}_{os.getpid()}", "value": "v" * 24}
                )
            else:
                resp = await client.get("/hello" if hello else "/api/v1/secrets?limit=100")
            latencies.append((time.perf_counter() - start) * 1000)
            if resp.status_code >= 400:
                errors += 1

    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    latencies.sort()
    rate = len(latencies) / seconds
    return rate, statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


def _wait(url: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="sigil-gw-bench-"))
    bin_dir = Path(sys.executable).parent
    port, hello_port = free_port(), free_port()
    env = dict(os.environ, SIGIL_LOG_LEVEL="WARNING")
    stack = subprocess.Popen(
        [
            str(bin_dir / "sigil"),
            "--data-dir",
            str(data),
            "up",
            "--nats-port",
            "-1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    hello = subprocess.Popen(
        [
            str(bin_dir / "uvicorn"),
            "bench.hello_app:app",
            "--port",
            str(hello_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/readyz")
        _wait(f"http://127.0.0.1:{hello_port}/hello")
        token = subprocess.run(
            [
                str(bin_dir / "sigil"),
                "--data-dir",
                str(data),
                "token",
                "--org",
                "bench",
                "--role",
                "admin",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        auth = {"Authorization": f"Bearer {token}"}
        sigil = asyncio.run(
            _load(f"http://127.0.0.1:{port}", args.seconds, args.concurrency, auth, hello=False)
        )
        base = asyncio.run(
            _load(f"http://127.0.0.1:{hello_port}", args.seconds, args.concurrency, {}, hello=True)
        )
    finally:
        for proc in (stack, hello):
            proc.terminate()
            proc.wait()
    print(
        f"gateway, mixed 1 create : 3 list, concurrency {args.concurrency}, {args.seconds:g}s "
        f"each ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d')})"
    )
    print(f"{'':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'sigil gateway':<22}{sigil[0]:>10.0f}{sigil[1]:>10.1f}{sigil[2]:>10.1f}")
    print(f"{'FastAPI hello-world':<22}{base[0]:>10.0f}{base[1]:>10.1f}{base[2]:>10.1f}")
    print(f"{'ratio (hello/sigil)':<22}{base[0] / sigil[0]:>9.1f}x")


if __name__ == "__main__":
    main()
