"""The Helm chart's NATS users, run by a real nats-server as the NATS chart would write them.

The chart's ``nats.config.merge`` block becomes the server config with each ``<< $VAR >>``
unquoted, and the passwords arrive as environment variables (from Secrets in Kubernetes):
every user logs in with its own password only, keeps to its private inbox, and the setup
step (bootstrap) and the services' wait for streams work with these credentials.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from sigil_cli.embedded import NatsServer, new_nats_password
from sigil_shared import subjects
from sigil_shared.operations import USERS
from sigil_shared.settings import BusSettings, SetupSettings
from sigil_shared.setup import setup_streams
from sigil_shared.wait_streams import wait_for_streams

ROOT = Path(__file__).resolve().parents[3]
_UNQUOTE = re.compile(r'"<< (\$[A-Z0-9_]+) >>"')


def _nats_values() -> dict[str, Any]:
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "sigil" / "values.yaml").read_text())
    nats_values: dict[str, Any] = values["nats"]
    return nats_values


@pytest.fixture
def helm_nats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, str]]]:
    values = _nats_values()
    passwords = {user: new_nats_password() for user in USERS}
    for user in USERS:
        variable = next(
            v
            for v, spec in values["container"]["env"].items()
            if spec["valueFrom"]["secretKeyRef"]["key"] in {user, "password"}
            and (user == "bootstrap") == (spec["valueFrom"]["secretKeyRef"]["key"] == "password")
        )
        monkeypatch.setenv(variable, passwords[user])  # nats-server reads it from its environment
    conf = {
        "host": "127.0.0.1",
        "port": -1,
        "jetstream": {"store_dir": str(tmp_path / "js")},
        **values["config"]["merge"],
    }
    path = tmp_path / "nats.conf"
    path.write_text(_UNQUOTE.sub(r"\1", json.dumps(conf, indent=2)), encoding="utf-8")
    server = NatsServer(path)
    url = server.start()
    try:
        yield url, passwords
    finally:
        server.stop()


async def test_helm_users_log_in_with_their_secret_passwords_only(
    helm_nats: tuple[str, dict[str, str]],
) -> None:
    url, passwords = helm_nats
    for user in USERS:
        nc = await nats.connect(
            url,
            user=user,
            password=passwords[user],
            inbox_prefix=subjects.inbox_prefix(user),
            allow_reconnect=False,
        )
        await nc.close()
    wrong = NatsClient()
    try:
        with pytest.raises(NatsError):
            await wrong.connect(
                url, user="renderer", password=passwords["gateway"], allow_reconnect=False
            )
    finally:
        await wrong.close()  # nats-py leaves the refused socket open otherwise


async def test_helm_users_keep_to_their_private_inbox(
    helm_nats: tuple[str, dict[str, str]],
) -> None:
    url, passwords = helm_nats
    errors: list[str] = []

    async def on_error(err: Exception) -> None:
        errors.append(str(err).lower())

    nc = await nats.connect(
        url,
        user="gateway",
        password=passwords["gateway"],
        inbox_prefix=subjects.inbox_prefix("gateway"),
        error_cb=on_error,
    )
    try:
        await nc.subscribe("_INBOX.>")
        await nc.subscribe("_INBOX.renderer.>")
        await nc.subscribe("_INBOX.gateway.x")
        for _ in range(3):
            await nc.flush()
    finally:
        await nc.close()
    assert any('permissions violation for subscription to "_inbox.>"' in e for e in errors)
    assert any('subscription to "_inbox.renderer.>"' in e for e in errors)
    assert not any('"_inbox.gateway.x"' in e for e in errors)


async def test_setup_job_and_wait_for_streams_work_with_the_helm_users(
    helm_nats: tuple[str, dict[str, str]],
) -> None:
    url, passwords = helm_nats
    renderer = BusSettings(
        nats_url=url,
        nats_user="renderer",
        nats_password=passwords["renderer"],  # type: ignore[arg-type]
    )
    assert await wait_for_streams(renderer, "renderer", timeout=0.5)
    created = await setup_streams(
        SetupSettings(
            nats_url=url,
            nats_user="bootstrap",
            nats_password=passwords["bootstrap"],  # type: ignore[arg-type]
        )
    )
    assert created
    for service in ("secrets", "renderer", "redactor"):
        settings = BusSettings(
            nats_url=url,
            nats_user=service,
            nats_password=passwords[service],  # type: ignore[arg-type]
        )
        assert await wait_for_streams(settings, service, timeout=30) == []
