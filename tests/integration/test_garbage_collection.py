"""Once started, the service freezes what startup built and enlarges the young generation (``GC_*``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from api_harness import AppFactory

pytestmark = pytest.mark.usefixtures("restored_collector")


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()  # frozen objects are never collected: give the rest of the test run its memory back
    gc.set_threshold(*threshold)


def test_startup_objects_are_frozen_and_the_young_generation_grows(make_api: AppFactory) -> None:
    _, older, oldest = gc.get_threshold()
    make_api(gc_freeze=True, gc_gen0_threshold=12_345)
    assert gc.get_freeze_count() > 10_000  # modules, the app, its routes, schemas, the engine, the SDK
    assert gc.get_threshold() == (12_345, older, oldest)


def test_both_can_be_turned_off(make_api: AppFactory) -> None:
    threshold = gc.get_threshold()
    make_api(gc_freeze=False, gc_gen0_threshold=0)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == threshold
