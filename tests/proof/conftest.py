"""Proof suites share the session's figure recorder (tests/conftest.py)."""

from tests.conftest import FIGURES, FULL_SCALE, Record

FULL = FULL_SCALE

__all__ = ["FIGURES", "FULL", "Record"]
