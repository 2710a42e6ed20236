"""Proof suite plumbing: each suite records its figures for `make proof`'s summary table."""

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FIGURES = Path(__file__).resolve().parents[1] / "artifacts" / "proof-figures.json"
#: `make proof` sets SIGIL_PROOF_SCALE=full for longer runs; `make test` keeps a fast subset.
FULL = os.environ.get("SIGIL_PROOF_SCALE") == "full"
Record = Callable[[str, str, object], None]


@pytest.fixture(scope="session")
def record_figure() -> Iterator[Record]:
    """``record_figure(suite, measure, value)``; written to tests/artifacts at the end."""
    figures: dict[str, dict[str, object]] = {}

    def record(suite: str, measure: str, value: object) -> None:
        figures.setdefault(suite, {})[measure] = value

    yield record
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    existing.update(figures)
    FIGURES.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
