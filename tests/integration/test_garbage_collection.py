"""Once started, the service leaves what startup built out of later garbage collections (``GC_FREEZE``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from api_harness import AppFactory


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # frozen objects are never collected: give the rest of the test run its memory back


@pytest.mark.usefixtures("unfrozen")
def test_startup_objects_are_frozen(make_api: AppFactory) -> None:
    make_api(gc_freeze=True)
    assert gc.get_freeze_count() > 10_000  # modules, the app, its routes, schemas, the engine, the SDK


@pytest.mark.usefixtures("unfrozen")
def test_gc_freeze_false_leaves_the_collector_as_it_was(make_api: AppFactory) -> None:
    make_api(gc_freeze=False)
    assert gc.get_freeze_count() == 0
