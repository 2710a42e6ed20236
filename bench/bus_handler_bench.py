"""CPU per request/reply of one bus handler, three ways, in the same run (issue 14 / 11 D).

Each responder runs in its own process on one real nats-server and answers the same
command (a ``SecretGetRequest`` in, a ``Reply[HealthReply]`` envelope out, both validated
with pydantic):

- ``raw``: a nats-py subscription callback (the floor: no FastStream at all);
- ``bare``: a FastStream subscriber on a broker without middlewares, pydantic request
  in and reply envelope out (issue 14's yardstick: a Sigil handler within 2x of it);
- ``context``: a FastStream subscriber taking the service object through
  ``Context()`` (how handlers were registered at first);
- ``chain``: ``sigil_shared.bus.declare``, FastStream's per-message chain (the
  service object by closure, the request contract the only parameter; Sigil's metrics
  and error middlewares) — how every command was answered before, and still is with
  tracing on;
- ``closure``: ``sigil_shared.bus.serve`` as it answers without tracing: the same
  declaration, answered by ``bus.DirectReplies`` from a plain nats-py callback.

The figure is the responder process's CPU milliseconds per request (user + system from
/proc/<pid>/stat over the measured requests), plus wall-clock requests per second for
context; wall clock is noisy on a shared machine, CPU time much less so.

    .venv/bin/python -m bench.bus_handler_bench [--count 4000] [--concurrency 16]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

SUBJECT = "bench.handler.get"
VARIANTS = ("raw", "bare", "context", "chain", "closure")
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class Service:
    """Stands in for a service object: the handler's one call."""

    async def get(self, request: Any) -> Any:
        from sigil_shared.contracts import HealthReply  # noqa: PLC0415

        return HealthReply(service="bench", ready=True, checks={"id": request.id})


async def respond(variant: str, url: str) -> None:
    """Serve until killed."""
    from faststream import Context  # noqa: PLC0415
    from faststream.nats import NatsBroker  # noqa: PLC0415

    from sigil_shared.bus import create_broker, declare, serve  # noqa: PLC0415
    from sigil_shared.contracts import HealthReply, Reply, SecretGetRequest  # noqa: PLC0415
    from sigil_shared.operations import Command  # noqa: PLC0415
    from sigil_shared.settings import BusSettings  # noqa: PLC0415

    service = Service()
    if variant == "raw":
        import nats  # noqa: PLC0415

        nc = await nats.connect(url)

        async def on_msg(msg: Any) -> None:
            request = SecretGetRequest.model_validate_json(msg.data)
            reply = Reply.success(await service.get(request))
            await msg.respond(reply.model_dump_json().encode())

        await nc.subscribe(SUBJECT, queue="bench", cb=on_msg)
        await asyncio.Event().wait()
    if variant == "bare":
        bare = NatsBroker(url, logger=None)  # no per-message log lines: the strict yardstick

        @bare.subscriber(SUBJECT, queue="bench")
        async def get_bare(request: SecretGetRequest) -> Reply[HealthReply]:
            return Reply.success(await service.get(request))

        await bare.start()
        await asyncio.Event().wait()
    broker: NatsBroker = create_broker(BusSettings(nats_url=url), service="bench")
    if variant == "context":
        from faststream import FastStream  # noqa: PLC0415

        app = FastStream(broker)

        @broker.subscriber(SUBJECT, queue="bench")
        async def get(
            request: SecretGetRequest, svc: Annotated[Service, Context("bench_service")]
        ) -> Reply[HealthReply]:
            return Reply.success(await svc.get(request))

        app.context.set_global("bench_service", service)
    else:
        op = Command(SUBJECT, SecretGetRequest, HealthReply, "secrets", frozenset(), "bench")
        if variant == "closure":
            serve(broker, op, service.get)  # direct replies: tracing is off here
        else:
            declare(broker, op, service.get)
    await broker.start()
    await asyncio.Event().wait()


async def drive(url: str, *, count: int, concurrency: int) -> float:
    """Send ``count`` requests, ``concurrency`` in flight; returns the wall seconds."""
    import nats  # noqa: PLC0415

    from sigil_shared.contracts import Actor, Role, SecretGetRequest  # noqa: PLC0415

    nc = await nats.connect(url)
    actor = Actor(user_id="u", organization_id="bench", role=Role.ADMIN)
    payload = SecretGetRequest(actor=actor, request_id="r1", id="abc").model_dump_json().encode()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            msg = await nc.request(SUBJECT, payload, timeout=10)
            assert json.loads(msg.data)["ok"] is True

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await nc.close()
    return elapsed


def measure(variant: str, url: str, *, count: int, concurrency: int) -> tuple[float, float]:
    """(CPU ms per request of the responder, requests per second)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bus_handler_bench", "--respond", variant, "--url", url]
    )
    try:
        asyncio.run(_wait_for_responder(url))
        asyncio.run(drive(url, count=max(200, count // 10), concurrency=concurrency))  # warm
        before = cpu_seconds(proc.pid)
        elapsed = asyncio.run(drive(url, count=count, concurrency=concurrency))
        cpu_ms = (cpu_seconds(proc.pid) - before) * 1000 / count
    finally:
        proc.terminate()
        proc.wait(10)
    return cpu_ms, count / elapsed


async def _wait_for_responder(url: str) -> None:
    import nats  # noqa: PLC0415
    from nats.errors import NoRespondersError  # noqa: PLC0415
    from nats.errors import TimeoutError as NatsTimeoutError  # noqa: PLC0415

    from sigil_shared.contracts import Actor, Role, SecretGetRequest  # noqa: PLC0415

    actor = Actor(user_id="u", organization_id="bench", role=Role.ADMIN)
    probe = SecretGetRequest(actor=actor, request_id="p", id="p").model_dump_json().encode()
    nc = await nats.connect(url)
    try:
        for _ in range(400):
            try:
                await nc.request(SUBJECT, probe, timeout=0.5)
                return
            except (NoRespondersError, NatsTimeoutError):
                await asyncio.sleep(0.05)
    finally:
        await nc.close()


def main() -> None:
    """Run the three responders in turn against one nats-server and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--respond", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.respond:
        asyncio.run(respond(args.respond, args.url))
        return
    from sigil_cli.embedded import NatsServer  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "nats.conf"
        conf.write_text(json.dumps({"host": "127.0.0.1", "port": -1}), encoding="utf-8")
        server = NatsServer(conf)
        url = server.start()
        try:
            rows = {
                v: measure(v, url, count=args.count, concurrency=args.concurrency) for v in VARIANTS
            }
        finally:
            server.stop()
    print(f"bus handler, {args.count} requests, {args.concurrency} in flight (same run)")
    print(f"{'responder':<44}{'CPU ms/req':>12}{'req/s':>10}")
    labels = {
        "raw": "raw nats-py callback (floor)",
        "bare": "FastStream, no middlewares (yardstick)",
        "context": "FastStream + Context() service (older)",
        "chain": "bus.declare: FastStream's chain (before)",
        "closure": "bus.serve, direct replies (now)",
    }
    for variant, (cpu_ms, rate) in rows.items():
        print(f"{labels[variant]:<44}{cpu_ms:>12.3f}{rate:>10.0f}")
    saved = rows["chain"][0] - rows["closure"][0]
    print(f"saved per request by direct replies: {saved:.3f} CPU ms")
    ratio = rows["closure"][0] / rows["bare"][0]
    print(f"Sigil handler / FastStream without middlewares: {ratio:.2f}x CPU (aim: within 2x)")


if __name__ == "__main__":
    main()
