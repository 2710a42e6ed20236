"""Audit appends in one organization: group commit next to one round trip per event.

    .venv/bin/python -m bench.audit_bench [--count 3000] [--concurrency 64]

Starts a real nats-server, runs the setup step, and appends ``count`` events to one
organization's keyed chain from ``concurrency`` concurrent callers (as concurrent
commands of one secrets replica do), twice on the same server in the same run:

- ``serialized``: the adapter with atomic batches off, so each event is its own publish
  with an expected last subject sequence (one round trip per event, as before group commit);
- ``group commit``: the adapter as shipped (one atomic batch per round trip).

Next to each rate it prints CPU milliseconds per append of this process and of
nats-server (``/proc/<pid>/stat`` deltas), since wall clock is noisy on a shared machine.
Then it verifies both chains. Prints one table; asserts nothing.
"""

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nats
from pydantic import SecretStr

from sigil_secrets.adapters.js_audit import JetStreamAuditLog
from sigil_secrets.adapters.keyring_source import KeyringSource
from sigil_secrets.audit_admin import verify_audit
from sigil_shared import subjects
from sigil_shared.contracts import AuditEvent, AuditOutcome, Role
from sigil_shared.settings import SecretsSettings
from tests.helpers import start_nats

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _event(org: str, n: int) -> AuditEvent:
    return AuditEvent(
        id=uuid.uuid4().hex,
        organization_id=org,
        actor_id="bench",
        actor_role=Role.ADMIN,
        actor_customer_organization_id=None,
        action="update",
        key=f"KEY_{n % 100}",
        version=n,
        request_id=uuid.uuid4().hex,
        outcome=AuditOutcome.SUCCESS,
        at=datetime.now(UTC),
        prev_hash="",
    )


async def _run(
    log: JetStreamAuditLog, org: str, *, count: int, concurrency: int, server_pid: int
) -> tuple[float, float, float, int]:
    """(appends/s, own CPU ms per append, nats-server CPU ms per append, round trips)."""
    events = [_event(org, n) for n in range(count)]
    queue = iter(events)

    async def caller() -> None:
        for event in queue:
            await log.append(event)

    cpu0, srv0, wall0 = time.process_time(), _cpu_seconds(server_pid), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall = time.perf_counter() - wall0
    own = (time.process_time() - cpu0) * 1000 / count
    server = (_cpu_seconds(server_pid) - srv0) * 1000 / count
    return count / wall, own, server, log.round_trips


async def main(count: int, concurrency: int) -> None:
    """Measure both modes on one server and print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        fx = await asyncio.to_thread(start_nats, Path(tmp))
        try:
            assert fx.server.pid is not None
            password = fx.data.passwords()["secrets"]
            nc = await nats.connect(
                fx.url,
                user="secrets",
                password=password,
                inbox_prefix=subjects.inbox_prefix("secrets"),
            )
            keyring = KeyringSource(path=fx.data.audit_key_file)
            rows = []
            for mode in ("serialized", "group commit"):
                log = JetStreamAuditLog(
                    nc, nc.jetstream(), stream=subjects.AUDIT_STREAM, keyring=keyring
                )
                await log.setup()
                if mode == "serialized":
                    log._atomic = False  # the baseline: one round trip per event
                org = "bench-" + mode.replace(" ", "-")
                figures = await _run(
                    log, org, count=count, concurrency=concurrency, server_pid=fx.server.pid
                )
                rows.append((mode, *figures))
            await nc.close()
            settings = SecretsSettings(
                kek_file=fx.data.kek_file,
                audit_key_file=fx.data.audit_key_file,
                nats_url=fx.url,
                nats_user="secrets",
                nats_password=SecretStr(password),
            )
            report = await verify_audit(settings)
        finally:
            fx.server.stop()
    print(f"audit appends, one organization, {count} events, {concurrency} concurrent callers")
    print(f"{'mode':<14}{'appends/s':>11}{'CPU ms/append':>15}{'nats ms/append':>16}{'trips':>8}")
    for mode, rate, own, server, trips in rows:
        print(f"{mode:<14}{rate:>11.0f}{own:>15.3f}{server:>16.3f}{trips:>8}")
    print("verify:", "; ".join(report.lines()), "->", "ok" if report.ok else "PROBLEMS")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.concurrency))
