"""SIGIL_LOG_FORMAT: one JSON object per line, exception type only, bad values refused."""

import json
import os
import subprocess
import sys

CANARY = "canary-Logjson-5151-value"
PROGRAM = f"""
import logging
from sigil_shared.logs import configure_logging
configure_logging("INFO", service="gateway")
log = logging.getLogger("sigil.gateway")
log.warning("request refused: %s", "rate_limited")
try:
    raise ValueError("{CANARY}")
except ValueError:
    log.exception("unexpected gateway failure")
"""


def _run(log_format: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env=dict(os.environ, SIGIL_LOG_FORMAT=log_format),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_json_format_writes_one_object_per_line_without_exception_text() -> None:
    result = _run("json")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["WARNING", "ERROR"]
    assert records[0]["message"] == "request refused: rate_limited"
    assert records[0]["service"] == "gateway"
    assert records[0]["logger"] == "sigil.gateway"
    assert records[0]["time"].endswith("+00:00")
    assert records[1]["exception"] == "ValueError"
    assert CANARY not in result.stderr
    assert "Traceback" not in result.stderr


def test_text_format_is_the_default_line_and_withholds_tracebacks() -> None:
    result = _run("text")
    assert result.returncode == 0, result.stderr
    assert "WARNING gateway sigil.gateway: request refused: rate_limited" in result.stderr
    assert "(ValueError; traceback withheld: it may quote input)" in result.stderr
    assert CANARY not in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_format_stops_with_one_line() -> None:
    result = _run("xml")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "sigil: invalid setting SIGIL_LOG_FORMAT: must be text or json, not 'xml'"
    )
