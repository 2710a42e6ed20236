"""Faults under load: kill -9 each service in turn during a bounded mixed load, restart it.

Figures: acknowledged writes lost, acknowledged writes without their audit event, log lines
lost, duplicated or leaked raw, and the time each service took to answer again. (Losing a
NATS node under load is measured by tests/integration/cluster.)
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import pytest

from sigil_cli.tokens import issue_token
from sigil_shared import subjects
from sigil_shared.contracts import LogRecord, TemplateRenderRequest
from sigil_shared.jetstream import scan
from tests.helpers import NatsFixture, free_port, start_nats
from tests.proof.conftest import FULL, Record

pytestmark = [pytest.mark.proof, pytest.mark.slow, pytest.mark.timeout(600)]
MODULES = {
    "secrets": "sigil_secrets",
    "renderer": "sigil_renderer",
    "redactor": "sigil_redactor",
    "gateway": "sigil_gateway",
}
LOG_SECRET = "fault-log-secret-31415"
ORG = "faults"


@dataclass
class Services:
    nats: NatsFixture
    port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, service: str) -> dict[str, str]:
        creds = self.nats.creds(service)
        return dict(
            os.environ,
            SIGIL_NATS_URL=creds["nats_url"],
            SIGIL_NATS_USER=service,
            SIGIL_NATS_PASSWORD=creds["nats_password"],
            SIGIL_KEK_FILE=str(self.nats.data.kek_file),
            SIGIL_AUDIT_KEY_FILE=str(self.nats.data.audit_key_file),
            SIGIL_JWT_KEY_FILE=str(self.nats.data.jwt_key_file),
            SIGIL_PORT=str(self.port),
            SIGIL_LOG_LEVEL="ERROR",
            SIGIL_ACK_WAIT="3",
        )

    def start(self, service: str) -> None:
        self.procs[service] = subprocess.Popen(
            [sys.executable, "-m", MODULES[service]],
            env=self.env(service),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self, service: str) -> None:
        proc = self.procs[service]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    fixture = start_nats(tmp_path / "nats")
    running = Services(nats=fixture, port=free_port())
    try:
        for service in MODULES:
            running.start(service)
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(400):
                try:
                    if (
                        await client.get(f"http://127.0.0.1:{running.port}/readyz")
                    ).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
            else:
                pytest.fail("stack never became ready")
        yield running
    finally:
        running.stop_all()
        fixture.server.stop()


async def test_kill_each_service_under_load(services: Services, record_figure: Record) -> None:
    base = f"http://127.0.0.1:{services.port}"
    key = services.nats.data.jwt_key_file.read_text().strip()
    headers = {"Authorization": "Bearer " + issue_token(key, org=ORG, role="admin")}
    passwords = services.nats.data.passwords()
    platform = await nats.connect(
        services.nats.url,
        user="platform",
        password=passwords["platform"],
        inbox_prefix="_INBOX.platform",
    )
    js = platform.jetstream()
    acked_versions: dict[str, int] = {}
    acked_lines: set[int] = set()
    renders_ok = 0
    stop = asyncio.Event()
    duration = 40.0 if FULL else 12.0

    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=5) as http:
        created = await http.post(
            "/api/v1/secrets", json={"key": "LOG_SECRET", "value": LOG_SECRET}
        )
        assert created.status_code == 201

        async def writer() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    if n % 3 == 0 and acked_versions:
                        secret_id = sorted(acked_versions)[n % len(acked_versions)]
                        resp = await http.put(
                            f"/api/v1/secrets/{secret_id}", json={"value": f"value-{n}-updated"}
                        )
                        if resp.status_code == 200:
                            acked_versions[secret_id] = max(
                                acked_versions[secret_id], resp.json()["version"]
                            )
                    else:
                        resp = await http.post(
                            "/api/v1/secrets", json={"key": f"K{n:05d}", "value": f"value-{n}"}
                        )
                        if resp.status_code == 201:
                            acked_versions[resp.json()["id"]] = 1
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)

        async def logger() -> None:
            n = 0
            while not stop.is_set():
                record = LogRecord(
                    deployment_id="app", timestamp=datetime.now(UTC), body=f"{n} {LOG_SECRET}"
                )
                try:
                    await js.publish(
                        subjects.logs_raw(ORG, "app"),
                        record.model_dump_json().encode(),
                        headers={"Nats-Msg-Id": f"line-{n}"},
                    )
                    acked_lines.add(n)
                    n += 1
                except Exception:  # noqa: BLE001 - an unacknowledged publish is simply retried
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.005)

        async def renderer() -> None:
            nonlocal renders_ok
            revision = 0
            while not stop.is_set():
                revision += 1
                message = TemplateRenderRequest(
                    organization_id=ORG,
                    deployment_id="app",
                    revision=revision,
                    env_file="S={{ .Secrets.LOG_SECRET }}",
                )
                try:
                    reply = await platform.request(
                        subjects.TEMPLATE_RENDER, message.model_dump_json().encode(), timeout=2
                    )
                    renders_ok += b'"ok":true' in reply.data
                except Exception:  # noqa: BLE001 - failures during a kill are expected
                    await asyncio.sleep(0.05)

        recovery: dict[str, float] = {}

        async def killer() -> None:
            await asyncio.sleep(1.0)
            for service in MODULES:
                services.kill(service)
                killed_at = time.monotonic()
                await asyncio.sleep(0.3)
                services.start(service)
                recovery[service] = await _recovered(service, http, platform) - killed_at
                await asyncio.sleep(duration / 5)
            stop.set()

        await asyncio.gather(writer(), logger(), renderer(), killer())

        listed: dict[str, int] = {}
        cursor = None
        while True:
            params = {"limit": "1000"} | ({"cursor": cursor} if cursor else {})
            page = (await http.get("/api/v1/secrets", params=params)).json()
            listed |= {i["id"]: i["version"] for i in page["items"]}
            cursor = page["nextCursor"]
            if not cursor:
                break
        audited: set[tuple[str, int]] = set()
        audit_cursor = None
        while True:
            params = {"limit": "1000"} | ({"cursor": audit_cursor} if audit_cursor else {})
            page = (await http.get("/api/v1/audit", params=params)).json()
            audited |= {
                (e["secretId"], e["version"])
                for e in page["items"]
                if e["outcome"] == "success" and e["action"] in ("create", "update")
            }
            audit_cursor = page["nextCursor"]
            if not audit_cursor:
                break

    observer = await nats.connect(
        services.nats.url,
        user="redactor",
        password=passwords["redactor"],
        inbox_prefix="_INBOX.redactor",
    )
    bodies: list[str] = []
    for _ in range(300):  # redelivery after a kill waits for the ack deadline (3 s here)
        rows = await scan(
            observer,
            observer.jetstream(),
            subjects.LOGS_REDACTED_STREAM,
            subjects.logs_redacted(ORG, "app"),
        )
        bodies = [LogRecord.model_validate_json(d).body for _, _, d in rows]
        if len({b.split()[0] for b in bodies}) >= len(acked_lines):
            break
        await asyncio.sleep(0.1)
    await observer.close()
    await platform.close()

    lost_writes = [i for i, v in acked_versions.items() if listed.get(i, 0) < v]
    unaudited = [(i, v) for i, v in acked_versions.items() if (i, v) not in audited]
    numbers = [int(b.split()[0]) for b in bodies]
    lost_lines = acked_lines - set(numbers)
    duplicates = len(numbers) - len(set(numbers))
    leaked = [b for b in bodies if LOG_SECRET in b]
    suite = "Faults under load (kill -9 each service)"
    record_figure(suite, "acknowledged writes", len(acked_versions))
    record_figure(suite, "acknowledged writes lost", len(lost_writes))
    record_figure(suite, "acknowledged writes without audit event", len(unaudited))
    record_figure(suite, "log lines acknowledged", len(acked_lines))
    record_figure(suite, "log lines lost", len(lost_lines))
    record_figure(suite, "duplicates after redelivery", duplicates)
    record_figure(suite, "raw lines leaked", len(leaked))
    record_figure(suite, "renders answered", renders_ok)
    record_figure(suite, "seconds to recover (max)", round(max(recovery.values()), 2))
    assert len(acked_versions) > 20
    assert not lost_writes
    assert not unaudited
    assert not lost_lines
    assert duplicates == 0
    assert not leaked
    assert set(recovery) == set(MODULES)


async def _recovered(service: str, http: httpx.AsyncClient, platform: nats.NATS) -> float:
    for _ in range(600):
        try:
            if service == "gateway":
                if (await http.get("/healthz")).status_code == 200:
                    return time.monotonic()
            else:
                reply = await platform.request(subjects.health(service), b"{}", timeout=1)
                if b'"ready":true' in reply.data:
                    return time.monotonic()
        except Exception:  # noqa: BLE001 - still down
            pass
        await asyncio.sleep(0.05)
    pytest.fail(f"{service} did not come back")
