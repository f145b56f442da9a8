"""The long-lived heap frozen out of the garbage collector's passes (streaming.heap)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streaming.heap import freeze_long_lived


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_a_cycle_dropped_after_the_freeze_is_collected_by_the_next_one() -> None:
    """A model swap drops the old model (garbage cycles among frozen objects): the swap's
    freeze collects them."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle: never freed by reference counting alone
    ref = weakref.ref(a)
    freeze_long_lived()  # the old model, alive and frozen
    del a, b  # the swap drops it
    gc.collect()
    assert ref() is not None  # a plain collection skips frozen objects
    freeze_long_lived()
    assert ref() is None


def test_what_is_alive_is_frozen_and_a_later_collection_skips_it() -> None:
    keep = [_Node() for _ in range(1000)]
    n = freeze_long_lived()
    assert n == gc.get_freeze_count() >= len(keep)
    # a collection walks only what was allocated since: none of the frozen objects
    assert gc.collect() == 0 and gc.get_freeze_count() == n
