"""Test helpers shared by every suite: real nats-server, settings, free ports, processes."""

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nats
from nats.aio.client import Client as NatsClient

from sigil_cli.embedded import DataDir, NatsServer, nats_config
from sigil_shared import subjects
from sigil_shared.contracts import Actor, Role, ValueUseEvent, ValueUseKey
from sigil_shared.settings import SetupSettings
from sigil_shared.setup import setup_streams


@dataclass
class NatsFixture:
    """A running nats-server with the per-service users of the embedded config."""

    url: str
    data: DataDir
    server: NatsServer

    def creds(self, user: str) -> dict[str, str]:
        """``SIGIL_NATS_*`` settings for one generated user."""
        return {
            "nats_url": self.url,
            "nats_user": user,
            "nats_password": self.data.passwords()[user],
        }

    async def connect(self, user: str) -> NatsClient:
        """A nats-py connection as ``user``, on its private inbox prefix."""
        return await nats.connect(
            self.url,
            user=user,
            password=self.data.passwords()[user],
            inbox_prefix=subjects.inbox_prefix(user),
        )


def start_nats(root: Path, *, setup: bool = True) -> NatsFixture:
    """Start nats-server on a free loopback port with a temporary JetStream store.

    ``setup`` runs the setup step (streams and buckets) as ``sigil up`` does.
    """
    data = DataDir(root)
    data.prepare()
    data.nats_conf.write_text(
        nats_config(passwords=data.passwords(), store_dir=data.jetstream_dir, port=-1),
        encoding="utf-8",
    )
    server = NatsServer(data.nats_conf)
    url = server.start()
    if setup:
        run_setup(url, data)
    return NatsFixture(url=url, data=data, server=server)


def run_setup(url: str, data: DataDir, *, replicas: int = 1) -> None:
    """The setup step (as ``sigil up`` runs it): every stream and bucket, as ``bootstrap``."""
    settings = SetupSettings(
        nats_url=url,
        nats_user="bootstrap",
        nats_password=data.passwords()["bootstrap"],
        js_replicas=replicas,
    )
    # Its own event loop on a worker thread: async fixtures call this inside a running loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, setup_streams(settings)).result()


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServiceProcess:
    """A bus service started as ``python -m sigil_<service>`` with its metrics endpoint on."""

    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    metrics_url: str


def spawn_with_metrics(fixture: NatsFixture, service: str) -> ServiceProcess:
    """Start one bus service against the fixture's server, serving ``/metrics`` on a free port."""
    port = free_port()
    creds = fixture.creds(service)
    env = dict(
        os.environ,
        SIGIL_NATS_URL=creds["nats_url"],
        SIGIL_NATS_USER=service,
        SIGIL_NATS_PASSWORD=creds["nats_password"],
        SIGIL_METRICS_PORT=str(port),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", f"sigil_{service}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return ServiceProcess(proc=proc, env=env, metrics_url=f"http://127.0.0.1:{port}/metrics")


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class ClusterFixture:
    """Three clustered nats-server processes sharing the generated users."""

    data: DataDir
    nodes: list["ClusterNode"]

    @property
    def url(self) -> str:
        """All client URLs, comma-separated (Sigil's SIGIL_NATS_URL form)."""
        return ",".join(node.url for node in self.nodes)

    def creds(self, user: str) -> dict[str, str]:
        """``SIGIL_NATS_*`` settings for one generated user, listing every node."""
        return {
            "nats_url": self.url,
            "nats_user": user,
            "nats_password": self.data.passwords()[user],
        }


@dataclass
class ClusterNode:
    """One node: its config, ports and process."""

    name: str
    config: Path
    client_port: int
    server: NatsServer | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    def start(self) -> None:
        self.server = NatsServer(self.config)
        self.server.start()

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as a crash would be."""
        assert self.server is not None
        if self.server._proc is not None:
            self.server._proc.kill()
            self.server._proc.wait()
        self.server.stop()


def start_cluster(root: Path, size: int = 3) -> ClusterFixture:
    """A JetStream cluster on loopback: fixed free ports for routes, one store dir per node."""
    import json

    data = DataDir(root)
    data.prepare()
    client_ports = [free_port() for _ in range(size)]
    route_ports = [free_port() for _ in range(size)]
    nodes = []
    for i in range(size):
        base = json.loads(
            nats_config(
                passwords=data.passwords(), store_dir=root / f"js-{i}", port=client_ports[i]
            )
        )
        base["server_name"] = f"sigil-{i}"
        base["cluster"] = {
            "name": "sigil",
            "listen": f"127.0.0.1:{route_ports[i]}",
            "routes": [f"nats-route://127.0.0.1:{p}" for p in route_ports],
        }
        config = root / f"node-{i}.conf"
        config.write_text(json.dumps(base), encoding="utf-8")
        nodes.append(ClusterNode(f"sigil-{i}", config, client_ports[i]))
    for node in nodes:
        node.start()
    fixture = ClusterFixture(data=data, nodes=nodes)
    run_setup(fixture.url, data, replicas=size)
    return fixture


def value_use_event(org: str = "acme", **changes: object) -> ValueUseEvent:
    """A valid ``template.render`` value-use event of ``org``, now, with ``changes`` applied."""
    event = ValueUseEvent(
        event_id=uuid.uuid4().hex,
        action="template.render",
        actor=Actor(user_id="u_admin", organization_id=org, role=Role.ADMIN),
        organization_id=org,
        deployment_id="dep-1",
        revision="1",
        keys=[ValueUseKey(key="DB_PASSWORD", version=1)],
        outcome="success",
        request_id="req-1",
        at=datetime.now(UTC),
    )
    return event.model_copy(update=changes)
