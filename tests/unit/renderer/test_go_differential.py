"""Byte-for-byte agreement with Go 1.19's text/template on recorded fixtures.

tests/oracle/generate_fixtures.py recorded Go's own output and error text for every case
(hand-written .env files and Helm values, grammar-generated templates, mutated invalid
ones, printf over every value kind). CI needs no Go: it compares against the recording.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from sigil_renderer import TemplateError, render

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gotemplate" / "cases.json"
CASES: list[dict[str, Any]] = json.loads(FIXTURES.read_text(encoding="utf-8"))


def test_fixture_set_is_large_enough() -> None:
    assert len(CASES) >= 1000
    assert sum(1 for c in CASES if c["error"]) >= 300
    assert sum(1 for c in CASES if c.get("deviation")) >= 10


def test_fixtures_cover_untyped_nil_builtins_and_percent_names() -> None:
    builtins = ("and", "or", "eq", "lt", "len", "index", "slice", "html", "js", "urlquery", "call")
    for name in builtins:
        assert any(f"{name} nil" in c["template"] for c in CASES), name
    named = [c for c in CASES if "%" in c["name"]]
    assert len(named) >= 100
    assert sum(1 for c in named if c["error"] and "(MISSING)" in c["error"]) >= 50


PREFIX = {"parse": "template parsing error: ", "exec": "template execution error: "}


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_matches_go(case: dict[str, Any]) -> None:
    if case["error"] is None:
        assert render(case["template"], case["secrets"], case["name"]) == case["output"]
        return
    with pytest.raises(TemplateError) as info:
        render(case["template"], case["secrets"], case["name"])
    assert (info.value.phase, info.value.go_message) == (case["phase"], case["error"])
    assert str(info.value) == PREFIX[case["phase"]] + case["error"]
