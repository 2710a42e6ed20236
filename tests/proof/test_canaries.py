"""Leak canaries: planted values appear nowhere but in rendered output and, encrypted, the store."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.proof.conftest import Record

pytestmark = [pytest.mark.proof, pytest.mark.slow]


def test_no_canary_leaks_anywhere(record_figure: Record) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "tests.proof.canary_probe"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    searched = report["searched"]
    leaks = {place: found for place, found in report["leaks"].items() if found}
    record_figure("Leak canaries", "places searched", sum(searched.values()))
    record_figure("Leak canaries", "leaks found", sum(len(v) for v in leaks.values()))
    assert searched["http"] >= 15
    assert searched["bus"] >= 50
    assert searched["logs"] >= 10
    assert searched["spans"] >= 20
    assert report["audit_events"] >= 5
    assert not leaks, leaks
