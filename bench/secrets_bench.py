"""Secrets service over NATS on the embedded stack, next to raw JetStream KV in the same run.

    .venv/bin/python -m bench.secrets_bench [--count 2000] [--concurrency 32]

Starts a real nats-server and ``python -m sigil_secrets`` as a separate process, then
measures creates/s, updates/s and list-1,000 latency through the bus, and raw KV put/get
on the same server as the baseline. Prints one table; asserts nothing.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats

from sigil_cli.embedded import DataDir, NatsServer, nats_config
from sigil_shared import subjects
from sigil_shared.bus import create_broker, request
from sigil_shared.contracts import (
    Actor,
    HealthReply,
    HealthRequest,
    Role,
    SecretCreateRequest,
    SecretListReply,
    SecretListRequest,
    SecretMetadata,
    SecretUpdateReply,
    SecretUpdateRequest,
)
from sigil_shared.settings import BusSettings


async def _throughput(
    count: int, concurrency: int, op: Callable[[int], Awaitable[object]]
) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await op(i)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - start)


async def _latencies(rounds: int, op: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await op()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


async def _wait_ready(broker: object) -> None:
    for _ in range(200):
        try:
            reply = await request(
                broker,
                subjects.health("secrets"),
                HealthRequest(),
                HealthReply,
                timeout=1,  # type: ignore[arg-type]
            )
            if reply.ready:
                return
        except Exception:  # noqa: BLE001 - still starting
            pass
        await asyncio.sleep(0.05)
    raise SystemExit("secrets service did not become ready")


async def run(count: int, concurrency: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="sigil-bench-"))
    data = DataDir(root)
    data.prepare()
    data.nats_conf.write_text(
        nats_config(passwords=data.passwords(), store_dir=data.jetstream_dir, port=-1)
    )
    server = NatsServer(data.nats_conf)
    url = server.start()
    passwords = data.passwords()
    env = dict(
        os.environ,
        SIGIL_NATS_URL=url,
        SIGIL_NATS_USER="secrets",
        SIGIL_NATS_PASSWORD=passwords["secrets"],
        SIGIL_KEK_FILE=str(data.kek_file),
        SIGIL_LOG_LEVEL="WARNING",
    )
    service = subprocess.Popen([sys.executable, "-m", "sigil_secrets"], env=env)  # noqa: ASYNC220 - a child process for the whole run
    broker = create_broker(
        BusSettings(nats_url=url, nats_user="gateway", nats_password=passwords["gateway"]),
        service="bench",
    )
    try:
        await broker.connect()
        await _wait_ready(broker)
        admin = Actor(user_id="bench", organization_id="bench", role=Role.ADMIN)
        ids: list[str] = []

        async def create(i: int) -> None:
            meta = await request(
                broker,
                subjects.SECRET_CREATE,
                SecretCreateRequest(
                    actor=admin,
                    request_id=f"c{i}",
                    key=f"KEY_{i:06d}",
                    value=f"value-{i}-x" * 4,
                ),
                SecretMetadata,
                timeout=30,
            )
            ids.append(meta.id)

        async def update(i: int) -> None:
            await request(
                broker,
                subjects.SECRET_UPDATE,
                SecretUpdateRequest(
                    actor=admin,
                    request_id=f"u{i}",
                    id=ids[i % len(ids)],
                    value=f"new-{i}" * 4,
                ),
                SecretUpdateReply,
                timeout=30,
            )

        async def list_1000() -> None:
            await request(
                broker,
                subjects.SECRET_LIST,
                SecretListRequest(
                    actor=admin,
                    request_id="l",
                    limit=1000,
                ),
                SecretListReply,
                timeout=30,
            )

        creates = await _throughput(count, concurrency, create)
        updates = await _throughput(count, concurrency, update)
        list_p50, list_p99 = await _latencies(300, list_1000)

        nc = await nats.connect(url, user="secrets", password=passwords["secrets"])
        kv = await nc.jetstream().key_value("sigil-secrets")
        payload = b"x" * 400

        async def kv_put(i: int) -> None:
            await kv.put(f"bench.raw.{i}", payload)

        async def kv_get(i: int) -> None:
            await kv.get(f"bench.raw.{i % count}")

        puts = await _throughput(count, concurrency, kv_put)
        gets = await _throughput(count, concurrency, kv_get)
        get_p50, get_p99 = await _latencies(100, lambda: kv.get("bench.raw.1"))
        await nc.close()
    finally:
        await broker.stop()
        service.terminate()
        service.wait()
        server.stop()

    print(
        f"secrets service over NATS vs raw JetStream KV ({count} ops, concurrency {concurrency},"
        f" {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')})"
    )
    print(f"{'measure':<28}{'sigil':>12}{'raw KV':>12}{'ratio':>9}")
    _row("creates/s vs KV puts/s", creates, puts, inverse=True)
    _row("updates/s vs KV puts/s", updates, puts, inverse=True)
    _row("list-1000 p50 ms vs KV get", list_p50, get_p50)
    _row("list-1000 p99 ms vs KV get", list_p99, get_p99)
    print(f"{'raw KV gets/s':<28}{'':>12}{gets:>12.0f}")


def _row(label: str, sigil: float, baseline: float, *, inverse: bool = False) -> None:
    """One table row; the ratio says how many times slower Sigil is than the baseline."""
    ratio = baseline / sigil if inverse else sigil / baseline
    print(f"{label:<28}{sigil:>12.2f}{baseline:>12.2f}{ratio:>8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(run(args.count, args.concurrency))


if __name__ == "__main__":
    main()
