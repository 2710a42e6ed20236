"""Renderer throughput next to Go's own text/template on the same inputs, in one run.

    .venv/bin/python -m bench.renderer_bench [--seconds 3] [--count 1000] [--concurrency 32 64]

In-process: renders/s of a compiled 40-line env file (20 references) and a 300-line Helm
values file (50 references), with the template cache. Go: the oracle times the same
templates (needs Debian's golang-go; the row says so when Go is missing). Over NATS: the
renderer and secrets services as separate processes, each render a new revision (so a new
receipt and a value-use audit record each); p50/p99 latency and the CPU milliseconds per
render of every process (/proc deltas; wall clock is noisy on a shared machine), and the
cost of the freshness read (contract C2) alone.
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop
from faststream.nats import NatsBroker
from nats.aio.msg import Msg

from bench.stack import BenchStack
from sigil_renderer import TemplateCache
from sigil_renderer.adapters.generations import parse_generation
from sigil_renderer.domain.validation import validate_file
from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import (
    Actor,
    Role,
    SecretCreateRequest,
    TemplateRenderRequest,
)
from sigil_shared.errors import SigilError

ROOT = Path(__file__).resolve().parents[1]
KEYS = [f"SECRET_{i:02d}" for i in range(50)]
SECRETS = {k: f"value-{i}-{'x' * (i % 17)}" for i, k in enumerate(KEYS)}


def env_file() -> str:
    lines = []
    for i in range(40):
        if i < 20:
            lines.append(f"VAR_{i}={{{{ .Secrets.{KEYS[i]} }}}}")
        else:
            lines.append(f"PLAIN_{i}=literal-value-{i}")
    return "\n".join(lines) + "\n"


def values_yaml() -> str:
    lines = []
    ref = 0
    for i in range(300):
        if i % 6 == 0 and ref < 50:
            lines.append(f'  key{i}: {{{{ .Secrets.{KEYS[ref]} | printf "%q" }}}}')
            ref += 1
        elif i % 25 == 0:
            lines.append(f"section{i}:")
        else:
            lines.append(f"  plain{i}: value-{i}")
    return "\n".join(lines) + "\n"


def per_second(fn: object, seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()  # type: ignore[operator]
        count += 1
    return count / (time.perf_counter() - start)


def go_renders_per_second(templates: dict[str, str]) -> dict[str, float | None]:
    if shutil.which("go") is None:
        return dict.fromkeys(templates)
    binary = Path(tempfile.mkdtemp()) / "gooracle"
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=ROOT / "tests" / "oracle" / "gotemplate",
        check=True,
    )
    cases = [
        {"name": name, "template": text, "secrets": SECRETS} for name, text in templates.items()
    ]
    out = subprocess.run(
        [str(binary), "-time", "20000"],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(out.stdout)
    return {name: 1e9 / r["nsPerOp"] for name, r in zip(templates, results, strict=True)}


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass
class Run:
    """Renders over NATS: rate, latency percentiles, CPU ms per render per process."""

    rate: float
    p50_ms: float
    p99_ms: float
    cpu_ms: dict[str, float]


@dataclass
class NatsFigures:
    """The renderer's run, the bus floor's run, and the freshness read's cost."""

    renderer: dict[int, Run]  # by renders in flight
    floor: dict[int, Run]
    generation_read_us: float
    generation_read_cpu_ms: dict[str, float]


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LeanRequester:
    """Request/reply at its leanest, for the load generator that shares the two cores:
    one subscription on the client's private inbox and a future per request, no timer or
    inbox token per request (the run as a whole has a deadline)."""

    def __init__(self, platform: NatsBroker) -> None:
        self._nc = platform.connection
        self._prefix = self._nc._inbox_prefix.decode() + ".bench."
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._sent = 0

    async def start(self) -> None:
        await self._nc.subscribe(self._prefix + "*", cb=self._answered)

    async def _answered(self, msg: Msg) -> None:
        waiter = self._waiting.pop(msg.subject, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(msg.data)

    async def request(self, subject: str, data: bytes) -> bytes:
        self._sent += 1
        inbox = f"{self._prefix}{self._sent}"
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[inbox] = waiter
        await self._nc.publish(subject, data, reply=inbox)
        return await waiter


async def measure(
    platform: NatsBroker,
    pids: dict[str, int],
    *,
    count: int,
    concurrency: int,
    env: str,
) -> Run:
    """``count`` renders of new revisions, ``concurrency`` in flight, after a warm-up.

    The client is the platform at its leanest, since it shares the two cores: requests are
    encoded before the clock starts, sent through ``LeanRequester``, and a reply is only
    checked for an error (the typed client's full parse of every reply would be bench
    cost, not renderer cost).
    """
    client = LeanRequester(platform)
    await client.start()
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    bodies = [
        TemplateRenderRequest(
            organization_id="bench",
            deployment_id=f"d{i % 50}",
            revision=i + 1,
            env_file=env,
        )
        .model_dump_json()
        .encode()
        for i in range(count + concurrency)
    ]

    async def render(i: int) -> None:
        async with sem:
            start = time.perf_counter()
            reply = json.loads(await client.request(ops.TEMPLATE_RENDER.subject, bodies[i]))
            latencies.append(time.perf_counter() - start)
            if reply.get("error") is not None:
                raise SystemExit(f"render {i} failed: {reply['error'].get('code')}")

    async with asyncio.timeout(60 + count / 50):
        # Warm-up: compiled template, cached values, connections.
        await asyncio.gather(*(render(count + i) for i in range(concurrency)))
        latencies.clear()
        before = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
        start = time.perf_counter()
        await asyncio.gather(*(render(i) for i in range(count)))
        elapsed = time.perf_counter() - start
    return Run(
        rate=count / elapsed,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        cpu_ms={name: (cpu_seconds(pids[name]) - t) * 1000 / count for name, t in before.items()},
    )


async def over_nats(count: int, concurrencies: list[int], templates: dict[str, str]) -> NatsFigures:
    """One fresh stack per number of renders in flight: a run must not share the machine
    with the audit appends its predecessor's renders left the secrets service."""
    renderer: dict[int, Run] = {}
    for concurrency in concurrencies:
        renderer[concurrency], cost = await _renders(count, concurrency, templates["envFile"])
    floor = await bus_floor(count, concurrencies, templates["envFile"])
    read_us, read_cpu = cost
    return NatsFigures(
        renderer=renderer,
        floor=floor,
        generation_read_us=read_us,
        generation_read_cpu_ms=read_cpu,
    )


async def _renders(
    count: int, concurrency: int, env: str
) -> tuple[Run, tuple[float, dict[str, float]]]:
    """Renders over NATS on a fresh stack, then the freshness read's cost there."""
    async with BenchStack(services=("secrets", "renderer")) as stack:
        admin = Actor(user_id="bench", organization_id="bench", role=Role.ADMIN)
        gateway = await stack.broker("gateway")
        for key, value in SECRETS.items():
            await request(
                gateway,
                ops.SECRET_CREATE,
                SecretCreateRequest(actor=admin, request_id=key, key=key, value=value),
                timeout=10,
            )
        platform = await stack.broker("platform")
        pids = {
            "renderer": stack.procs[stack.services.index("renderer")].pid,
            "secrets": stack.procs[stack.services.index("secrets")].pid,
            "nats-server": stack.server.pid if stack.server and stack.server.pid else 0,
            "bench client": os.getpid(),
        }
        run = await measure(platform, pids, count=count, concurrency=concurrency, env=env)
        return run, await generation_read_cost(stack, rounds=2000)


async def bus_floor(count: int, concurrencies: list[int], env: str) -> dict[int, Run]:
    """The same requests answered from memory by ``bench.render_floor`` (same plumbing)."""
    async with BenchStack(services=()) as stack:
        env_vars = dict(
            os.environ,
            SIGIL_NATS_URL=stack.url,
            SIGIL_NATS_USER="renderer",
            SIGIL_NATS_PASSWORD=stack.data.passwords()["renderer"],
            SIGIL_LOG_LEVEL="WARNING",
        )
        proc = subprocess.Popen([sys.executable, "-m", "bench.render_floor"], env=env_vars)  # noqa: ASYNC220 - a child process for the run
        try:
            platform = await stack.broker("platform")
            probe = TemplateRenderRequest(
                organization_id="bench", deployment_id="probe", revision=1, env_file=env
            )
            for _ in range(400):
                try:
                    await request(platform, ops.TEMPLATE_RENDER, probe, timeout=1)
                    break
                except SigilError:
                    await asyncio.sleep(0.05)
            pids = {
                "stand-in": proc.pid,
                "nats-server": stack.server.pid if stack.server and stack.server.pid else 0,
                "bench client": os.getpid(),
            }
            return {
                c: await measure(platform, pids, count=count, concurrency=c, env=env)
                for c in concurrencies
            }
        finally:
            proc.terminate()
            proc.wait()


async def generation_read_cost(stack: BenchStack, *, rounds: int) -> tuple[float, dict[str, float]]:
    """The freshness check alone (contract C2): one direct get of ``g.<org>``, as the
    renderer user, sequentially; wall microseconds per read and CPU ms per read."""
    renderer = await stack.broker("renderer")
    nc = renderer.connection
    subject = (
        f"$JS.API.DIRECT.GET.{subjects.kv_stream(subjects.SECRETS_BUCKET)}"
        f".$KV.{subjects.SECRETS_BUCKET}.{subjects.generation_key('bench')}"
    )
    server_pid = stack.server.pid if stack.server and stack.server.pid else 0
    pids = {"nats-server": server_pid, "reader": os.getpid()}
    before = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
    start = time.perf_counter()
    for _ in range(rounds):
        reply = await nc.request(subject, b"", timeout=5)
    elapsed = time.perf_counter() - start
    cpu = {name: (cpu_seconds(pids[name]) - t) * 1000 / rounds for name, t in before.items()}
    # A missing key would mean no caching at all (every render resolving): say so.
    if parse_generation(reply.headers, reply.data) is None:
        print("  WARNING: g.<org> is missing: the renderer cannot cache values")
    return elapsed * 1e6 / rounds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--count", type=int, default=1000)
    # A render service's capacity shows once enough renders are in flight; 32 in flight is
    # bound by the latency of a render's three bus round trips (see BENCHMARKS.md).
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 64])
    args = parser.parse_args()
    templates = {"envFile": env_file(), "valuesYaml": values_yaml()}
    cache = TemplateCache()
    go = go_renders_per_second(templates)
    print(
        f"renderer vs Go text/template ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d')},"
        f" Python {sys.version.split()[0]})"
    )
    print(f"{'measure':<44}{'sigil/s':>10}{'go/s':>12}{'go/sigil':>10}")
    for name, text in templates.items():
        compiled = cache.parse(text, name)
        engine = per_second(lambda c=compiled: c.render(SECRETS), args.seconds)
        full = per_second(
            lambda n=name, t=text: validate_file(n, t, SECRETS, compile_template=cache.parse),
            args.seconds,
        )
        g = go[name]
        go_text = f"{g:>12.0f}{g / engine:>9.1f}x" if g else f"{'(no Go)':>12}"
        print(f"{name + ': engine, cached template':<44}{engine:>10.0f}{go_text}")
        print(f"{name + ': render + structure check':<44}{full:>10.0f}")
    nats = uvloop.run(over_nats(args.count, args.concurrency, templates))
    for label, runs in (
        ("envFile over NATS (new revision each)", nats.renderer),
        ("bus floor: same requests answered from memory", nats.floor),
    ):
        for concurrency, run in runs.items():
            print(f"{label:<44}{run.rate:>10.0f}")
            print(
                f"  {args.count} renders, {concurrency} in flight: p50 {run.p50_ms:.1f} ms,"
                f" p99 {run.p99_ms:.1f} ms"
            )
            print(
                "  CPU ms per render: " + ", ".join(f"{k} {v:.3f}" for k, v in run.cpu_ms.items())
            )
    print(
        f"  freshness read alone (direct get of g.<org>, sequential):"
        f" {nats.generation_read_us:.0f} us wall, CPU ms per read: "
        + ", ".join(f"{k} {v:.3f}" for k, v in nats.generation_read_cpu_ms.items())
    )


if __name__ == "__main__":
    main()
