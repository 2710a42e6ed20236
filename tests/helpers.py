"""Test helpers shared by every suite: real nats-server, settings, free ports, processes."""

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from sigil_cli.embedded import DataDir, NatsServer, nats_config


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


def start_nats(root: Path) -> NatsFixture:
    """Start nats-server on a free loopback port with a temporary JetStream store."""
    data = DataDir(root)
    data.prepare()
    data.nats_conf.write_text(
        nats_config(passwords=data.passwords(), store_dir=data.jetstream_dir, port=-1),
        encoding="utf-8",
    )
    server = NatsServer(data.nats_conf)
    url = server.start()
    return NatsFixture(url=url, data=data, server=server)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
