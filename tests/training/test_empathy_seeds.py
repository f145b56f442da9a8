"""One model per seed: in spawned processes or in this one, results in seed order."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from training.empathy.seeds import train_per_seed


def _train(scale: int, seed: int, progress: Callable[[str], None] | None = None) -> tuple:
    if progress is not None:
        progress(f"seed {seed}")
    return seed * scale, os.getpid()


def test_seeds_in_this_process_report_progress_in_order() -> None:
    said: list[str] = []
    out = train_per_seed(functools.partial(_train, 10), [2, 0, 1], jobs=1, progress=said.append)
    assert [v for v, _ in out] == [20, 0, 10]
    assert {pid for _, pid in out} == {os.getpid()}
    assert said == ["seed 2", "seed 0", "seed 1"]


def test_seeds_in_spawned_processes_come_back_in_seed_order() -> None:
    said: list[str] = []
    out = train_per_seed(functools.partial(_train, 3), [5, 1, 4], jobs=2, progress=said.append)
    assert [v for v, _ in out] == [15, 3, 12]
    assert os.getpid() not in {pid for _, pid in out}
    assert said == []  # a child reports through its log, not the callback
