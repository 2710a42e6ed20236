"""A throwaway stack for benchmarks: nats-server plus service processes, on loopback."""

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from faststream.nats import NatsBroker

from sigil_cli.embedded import SERVICE_MODULES, DataDir, NatsServer, nats_config
from sigil_shared import operations as ops
from sigil_shared.bus import create_broker, request
from sigil_shared.contracts import HealthRequest
from sigil_shared.errors import SigilError
from sigil_shared.settings import BusSettings, SetupSettings
from sigil_shared.setup import setup_streams


class BenchStack:
    """``async with BenchStack(services=(...)) as stack``: started, ready, then stopped."""

    def __init__(self, *, services: tuple[str, ...]) -> None:
        self.services = services
        self.data = DataDir(Path(tempfile.mkdtemp(prefix="sigil-bench-")))
        self.server: NatsServer | None = None
        self.procs: list[subprocess.Popen[bytes]] = []
        self.brokers: list[NatsBroker] = []
        self.url = ""

    async def __aenter__(self) -> "BenchStack":
        self.data.prepare()
        self.data.nats_conf.write_text(
            nats_config(passwords=self.data.passwords(), store_dir=self.data.jetstream_dir, port=-1)
        )
        self.server = NatsServer(self.data.nats_conf)
        self.url = self.server.start()
        # The setup step creates every stream and bucket (services only check them).
        await setup_streams(
            SetupSettings(
                nats_url=self.url,
                nats_user="bootstrap",
                nats_password=self.data.passwords()["bootstrap"],
            )
        )
        modules = dict(SERVICE_MODULES)
        for service in self.services:
            env = dict(
                os.environ,
                SIGIL_NATS_URL=self.url,
                SIGIL_NATS_USER=service,
                SIGIL_NATS_PASSWORD=self.data.passwords()[service],
                SIGIL_KEK_FILE=str(self.data.kek_file),
                SIGIL_AUDIT_KEY_FILE=str(self.data.audit_key_file),
                SIGIL_LOG_LEVEL="WARNING",
            )
            self.procs.append(subprocess.Popen([sys.executable, "-m", modules[service]], env=env))  # noqa: ASYNC220
        probe = await self.broker("platform")
        for service in self.services:
            await self._wait(probe, service)
        return self

    async def _wait(self, broker: NatsBroker, service: str) -> None:
        for _ in range(400):
            try:
                reply = await request(broker, ops.health(service), HealthRequest(), timeout=1)
                if reply.ready:
                    return
            except SigilError:
                pass
            await asyncio.sleep(0.05)
        raise SystemExit(f"{service} did not become ready")

    async def broker(self, user: str) -> NatsBroker:
        """A connected broker as one generated NATS user."""
        broker = create_broker(
            BusSettings(
                nats_url=self.url, nats_user=user, nats_password=self.data.passwords()[user]
            ),
            service=f"bench-{user}",
        )
        await broker.connect()
        self.brokers.append(broker)
        return broker

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for broker in self.brokers:
            await broker.stop()
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait()
        if self.server is not None:
            self.server.stop()
        # Each run stores thousands of receipts and audit events: leave nothing behind.
        shutil.rmtree(self.data.root, ignore_errors=True)
