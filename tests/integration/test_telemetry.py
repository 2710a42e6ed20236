"""One trace across gateway, secrets and renderer; no planted value in any span or metric."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CANARY = "canary-Otel-5572-value"


def test_create_then_validate_is_traced_end_to_end_without_values() -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "tests.integration.telemetry_probe", CANARY],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    spans = report["spans"]
    by_name = {s["name"]: s for s in spans}
    create = by_name["POST /api/v1/secrets"]
    validate = by_name["POST /api/v1/templates/validate"]
    create_trace = [s for s in spans if s["trace"] == create["trace"]]
    assert {"secrets.store.insert", "secrets.audit.append"} <= {s["name"] for s in create_trace}
    assert any("sigil.secrets.secret.create" in s["name"] for s in create_trace)
    validate_trace = [s for s in spans if s["trace"] == validate["trace"]]
    names = {s["name"] for s in validate_trace}
    assert "renderer.validate" in names
    assert any("sigil.renderer.template.validate" in n for n in names)
    assert any("sigil.secrets.internal.resolve" in n for n in names), names
    dumped = json.dumps(report)
    assert CANARY not in dumped
    metric_names = {m["name"] for m in report["metrics"]}
    assert {"sigil.commands", "sigil.command.duration"} <= metric_names
    outcomes = {
        (m["attributes"].get("subject"), m["attributes"].get("outcome"))
        for m in report["metrics"]
        if m["name"] == "sigil.commands"
    }
    assert ("sigil.secrets.secret.create", "ok") in outcomes
