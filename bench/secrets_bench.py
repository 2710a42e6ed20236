"""Secrets service over NATS on the embedded stack, next to raw JetStream KV in the same run.

    .venv/bin/python -m bench.secrets_bench [--count 2000] [--concurrency 32] [--list-rounds 300]

Starts a real nats-server and ``python -m sigil_secrets`` as a separate process, then
measures creates/s and updates/s in one organization, list-1,000 latency and a deep
list-100 page through the bus, and raw KV puts/gets on the same server as the baseline.
Next to each rate it prints the CPU milliseconds per operation of the secrets process and
of nats-server (``/proc/<pid>/stat`` deltas), since wall clock is noisy on a shared
machine. Prints one table; asserts nothing.
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
from dataclasses import dataclass
from pathlib import Path

import nats

from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import create_broker, request
from sigil_shared.contracts import (
    Actor,
    HealthRequest,
    Role,
    SecretCreateRequest,
    SecretListReply,
    SecretListRequest,
    SecretUpdateRequest,
)
from sigil_shared.settings import BusSettings
from tests.helpers import start_nats

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _pid_running(config: Path) -> int | None:
    """The nats-server pid, found by its config file on the command line (for its CPU)."""
    needle = str(config).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and b"nats-server" in cmdline:
            return int(proc.name)
    return None


@dataclass
class Figure:
    """One measured operation: rate or latency, and CPU ms per op per process."""

    label: str
    value: float
    unit: str
    service_cpu_ms: float | None
    server_cpu_ms: float | None
    client_cpu_ms: float | None = None


class CpuMeter:
    """CPU deltas of the secrets process, nats-server and this (client) process."""

    def __init__(self, service_pid: int | None, server_pid: int | None) -> None:
        self._pids = (service_pid, server_pid, os.getpid())
        self._start: tuple[float | None, ...] = (None, None, None)

    def _now(self) -> tuple[float | None, ...]:
        return tuple(_cpu_seconds(pid) if pid else None for pid in self._pids)

    def __enter__(self) -> "CpuMeter":
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        self._end = self._now()

    def per_op_ms(self, ops: int) -> tuple[float | None, ...]:
        """CPU ms per operation of (secrets process, nats-server, bench client)."""
        result: list[float | None] = []
        for start, end in zip(self._start, self._end, strict=True):
            result.append(None if start is None or end is None else (end - start) * 1000 / ops)
        return tuple(result)


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
    return statistics.median(samples), samples[max(int(len(samples) * 0.99) - 1, 0)]


async def _wait_ready(broker: object) -> None:
    for _ in range(200):
        try:
            reply = await request(
                broker,  # type: ignore[arg-type]
                ops.health("secrets"),
                HealthRequest(),
                timeout=1,
            )
            if reply.ready:
                return
        except Exception:  # noqa: BLE001 - still starting
            pass
        await asyncio.sleep(0.05)
    raise SystemExit("secrets service did not become ready")


async def run(count: int, concurrency: int, list_rounds: int) -> list[Figure]:  # noqa: PLR0915 - one linear script
    """Run every measurement once and return the figures."""
    # A real nats-server with the setup step run (streams and buckets), as sigil up does.
    fixture = start_nats(Path(tempfile.mkdtemp(prefix="sigil-bench-")))
    data, server, url = fixture.data, fixture.server, fixture.url
    passwords = data.passwords()
    env = dict(
        os.environ,
        SIGIL_NATS_URL=url,
        SIGIL_NATS_USER="secrets",
        SIGIL_NATS_PASSWORD=passwords["secrets"],
        SIGIL_KEK_FILE=str(data.kek_file),
        SIGIL_AUDIT_KEY_FILE=str(data.audit_key_file),
        SIGIL_LOG_LEVEL="WARNING",
    )
    service = subprocess.Popen([sys.executable, "-m", "sigil_secrets"], env=env)  # noqa: ASYNC220 - a child process for the whole run
    broker = create_broker(
        BusSettings(nats_url=url, nats_user="gateway", nats_password=passwords["gateway"]),
        service="bench",
    )
    figures: list[Figure] = []
    meter_pids = (service.pid, _pid_running(data.nats_conf))

    def record(label: str, value: float, unit: str, meter: CpuMeter, ops: int) -> None:
        svc, srv, own = meter.per_op_ms(ops)
        figures.append(Figure(label, value, unit, svc, srv, own))

    try:
        await broker.connect()
        await _wait_ready(broker)
        admin = Actor(user_id="bench", organization_id="bench", role=Role.ADMIN)
        ids: list[str] = []

        async def create(i: int) -> None:
            meta = await request(
                broker,
                ops.SECRET_CREATE,
                SecretCreateRequest(
                    actor=admin, request_id=f"c{i}", key=f"KEY_{i:06d}", value=f"value-{i}-x" * 4
                ),
                timeout=30,
            )
            ids.append(meta.id)

        async def update(i: int) -> None:
            await request(
                broker,
                ops.SECRET_UPDATE,
                SecretUpdateRequest(
                    actor=admin, request_id=f"u{i}", id=ids[i % len(ids)], value=f"new-{i}" * 4
                ),
                timeout=30,
            )

        async def list_page(limit: int, cursor: str | None = None) -> SecretListReply:
            return await request(
                broker,
                ops.SECRET_LIST,
                SecretListRequest(actor=admin, request_id="l", limit=limit, cursor=cursor),
                timeout=30,
            )

        with CpuMeter(*meter_pids) as meter:
            creates = await _throughput(count, concurrency, create)
        record("creates/s (one org)", creates, "/s", meter, count)
        with CpuMeter(*meter_pids) as meter:
            updates = await _throughput(count, concurrency, update)
        record("updates/s (one org)", updates, "/s", meter, count)
        with CpuMeter(*meter_pids) as meter:
            p50, p99 = await _latencies(list_rounds, lambda: list_page(1000))
        record("list-1000 p50 ms", p50, "ms", meter, list_rounds)
        figures.append(Figure("list-1000 p99 ms", p99, "ms", None, None))
        # A page deep in the organization: its cost should not grow with the position.
        deep = await list_page(count // 2)
        with CpuMeter(*meter_pids) as meter:
            p50, p99 = await _latencies(list_rounds, lambda: list_page(100, deep.next_cursor))
        record("list-100 deep page p50 ms", p50, "ms", meter, list_rounds)
        figures.append(Figure("list-100 deep page p99 ms", p99, "ms", None, None))

        nc = await nats.connect(
            url, user="secrets", password=passwords["secrets"], inbox_prefix="_INBOX.secrets"
        )
        kv = await nc.jetstream().key_value(subjects.SECRETS_BUCKET)
        payload = b"x" * 400

        async def kv_put(i: int) -> None:
            await kv.put(f"bench.raw.{i}", payload)

        async def kv_get(i: int) -> None:
            await kv.get(f"bench.raw.{i % count}")

        with CpuMeter(None, meter_pids[1]) as meter:
            puts = await _throughput(count, concurrency, kv_put)
        record("raw KV puts/s (baseline)", puts, "/s", meter, count)
        with CpuMeter(None, meter_pids[1]) as meter:
            gets = await _throughput(count, concurrency, kv_get)
        record("raw KV gets/s (baseline)", gets, "/s", meter, count)
        p50, p99 = await _latencies(100, lambda: kv.get("bench.raw.1"))
        figures.append(Figure("raw KV get p50 ms", p50, "ms", None, None))
        figures.append(Figure("raw KV get p99 ms", p99, "ms", None, None))
        await nc.close()
    finally:
        await broker.stop()
        service.terminate()
        service.wait()
        server.stop()
    return figures


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def report(figures: list[Figure], *, count: int, concurrency: int) -> None:
    """Print the table."""
    print(
        f"secrets service over NATS vs raw JetStream KV ({count} ops, concurrency {concurrency},"
        f" {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')})"
    )
    print(
        f"{'measure':<30}{'value':>12}  {'secrets CPU ms/op':>18}{'nats CPU ms/op':>16}"
        f"{'client CPU ms/op':>18}"
    )
    for f in figures:
        print(
            f"{f.label:<30}{f.value:>12.2f}  {_fmt(f.service_cpu_ms):>18}"
            f"{_fmt(f.server_cpu_ms):>16}{_fmt(f.client_cpu_ms):>18}"
        )
    by_label = {f.label: f.value for f in figures}
    puts = by_label["raw KV puts/s (baseline)"]
    print(
        f"creates are {puts / by_label['creates/s (one org)']:.1f}x and updates "
        f"{puts / by_label['updates/s (one org)']:.1f}x slower than raw KV puts in this run"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--list-rounds", type=int, default=300)
    args = parser.parse_args()
    figures = asyncio.run(run(args.count, args.concurrency, args.list_rounds))
    report(figures, count=args.count, concurrency=args.concurrency)


if __name__ == "__main__":
    main()
