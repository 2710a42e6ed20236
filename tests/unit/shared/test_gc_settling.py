"""A service process takes its start-up objects out of the collector's view before serving."""

import gc
from collections.abc import Iterator

import pytest

from sigil_shared.service import settle_garbage_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    settle_garbage_collector()
    assert gc.get_freeze_count() > 1000  # modules, classes and schemas loaded so far
    assert gc.get_threshold()[0] > 700  # CPython's default young-generation threshold
