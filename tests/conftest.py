"""Session fixtures: one real nats-server for the integration and e2e suites."""

import base64
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from tests.helpers import NatsFixture, start_nats


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsFixture]:
    """A real nats-server from the wheel, random port, temporary store."""
    fixture = start_nats(tmp_path_factory.mktemp("nats"))
    yield fixture
    fixture.server.stop()


@pytest.fixture
def unique() -> str:
    """A short unique token for subjects, buckets and ids of one test."""
    return secrets.token_hex(4)


@pytest.fixture
def kek() -> str:
    """A fresh single-key keyring in ``SIGIL_KEK`` form."""
    return "test1:" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
async def platform_nc(nats_server: NatsFixture) -> AsyncIterator[NatsClient]:
    """A raw nats-py connection as the platform user (publishes logs, asks for renders)."""
    import nats

    nc = await nats.connect(
        nats_server.url,
        user="platform",
        password=nats_server.data.passwords()["platform"],
        inbox_prefix="_INBOX.platform",
    )
    yield nc
    await nc.close()


FIGURES = Path(__file__).resolve().parent / "artifacts" / "proof-figures.json"
#: `make proof` sets SIGIL_PROOF_SCALE=full for longer runs; `make test` keeps a fast subset.
FULL_SCALE = os.environ.get("SIGIL_PROOF_SCALE") == "full"
Record = Callable[[str, str, object], None]


@pytest.fixture(scope="session")
def record_figure() -> Iterator[Record]:
    """``record_figure(suite, measure, value)``: evidence for `make proof`'s summary table."""
    figures: dict[str, dict[str, object]] = {}

    def record(suite: str, measure: str, value: object) -> None:
        figures.setdefault(suite, {})[measure] = value

    yield record
    if figures:
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        existing = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        existing.update(figures)
        FIGURES.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
