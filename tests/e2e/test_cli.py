"""The ``sigil`` command against a live stack: tables for people, --json for scripts."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sigil_shared import subjects
from tests.e2e.conftest import LiveStack

pytestmark = pytest.mark.slow
VALUE = "cli-secret-value-8675309"


def test_secrets_lifecycle_from_the_command_line(live_stack: LiveStack, tmp_path: Path) -> None:
    token = live_stack.token("cliorg")
    created = live_stack.sigil(
        "secrets", "create", "DB_PASSWORD", "--json", token=token, stdin=VALUE + "\n"
    )
    assert created.returncode == 0, created.stderr
    secret = json.loads(created.stdout)
    assert VALUE not in created.stdout
    listed = live_stack.sigil("secrets", "list", token=token)
    assert "DB_PASSWORD" in listed.stdout
    assert "KEY" in listed.stdout.splitlines()[0]
    value_file = tmp_path / "v"
    value_file.write_text("second-value-000111")
    updated = live_stack.sigil(
        "secrets", "update", secret["id"], "--value-file", str(value_file), token=token
    )
    assert updated.returncode == 0, updated.stderr
    assert "version 2" in updated.stdout
    dup = live_stack.sigil("secrets", "create", "DB_PASSWORD", token=token, stdin="x" * 8)
    assert dup.returncode == 2
    assert "conflict" in dup.stderr
    audit = live_stack.sigil("audit", "--json", token=token)
    assert [e["action"] for e in json.loads(audit.stdout)][:2] == ["create", "update"]
    deleted = live_stack.sigil("secrets", "delete", secret["id"], token=token)
    assert deleted.returncode == 0
    reader = live_stack.token("cliorg", role="read_only")
    refused = live_stack.sigil("secrets", "create", "X", token=reader, stdin="value-1234")
    assert refused.returncode == 2
    assert "forbidden" in refused.stderr


def test_render_validate_prints_file_line_col_and_exits_1(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    token = live_stack.token("cliorg2")
    live_stack.sigil("secrets", "create", "API_KEY", token=token, stdin="api-key-value-1")
    good = tmp_path / "app.env"
    good.write_text("API_KEY={{ .Secrets.API_KEY }}\n")
    bad = tmp_path / "values.yaml"
    bad.write_text("a: 1\nb: {{ .Secrets.NOPE }}\n")
    ok = live_stack.sigil("render", "validate", str(good), token=token)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = live_stack.sigil("render", "validate", str(good), str(bad), token=token)
    assert failed.returncode == 1
    expected = f"{bad}:2:14: template execution error: template: valuesYaml:2:14:"
    assert failed.stdout.startswith(expected)


def test_logs_tail_streams_redacted_lines(live_stack: LiveStack) -> None:
    token = live_stack.token("cliorg3")
    live_stack.sigil("secrets", "create", "TOKEN", token=token, stdin=VALUE)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "sigil"), "logs", "tail", "web"],
        env={"SIGIL_URL": live_stack.url, "SIGIL_TOKEN": token, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # the tail subscribes before the line is published
        platform = json.loads((live_stack.data_dir / "nats-users.json").read_text())["platform"]
        nats_url = (live_stack.data_dir / "nats.url").read_text().strip()
        _publish_line(nats_url, platform, "cliorg3", "web", f"hello {VALUE}")
        assert proc.stdout is not None
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert line.rstrip().endswith("hello ********")


def _publish_line(url: str, password: str, org: str, deployment: str, body: str) -> None:
    import asyncio
    from datetime import UTC, datetime

    import nats

    from sigil_shared.contracts import LogRecord

    async def go() -> None:
        nc = await nats.connect(
            url, user="platform", password=password, inbox_prefix="_INBOX.platform"
        )
        record = LogRecord(deployment_id=deployment, timestamp=datetime.now(UTC), body=body)
        await nc.jetstream().publish(
            subjects.logs_raw(org, deployment), record.model_dump_json().encode()
        )
        await nc.close()

    asyncio.run(go())
