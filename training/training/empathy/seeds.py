"""One model per seed: trained side by side in spawned processes, or one after another."""

from __future__ import annotations

import logging
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

__all__ = ["train_per_seed"]

T = TypeVar("T")


def _worker_init() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def train_per_seed(
    train: Callable[..., T],
    seeds: Sequence[int],
    *,
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> list[T]:
    """``train(seed, progress=...)`` for every seed, results in seed order.

    With more than one job and seed, in ``min(jobs, len(seeds))`` spawned processes (``train``
    must pickle, e.g. a :func:`functools.partial` of a module function); a child reports through
    its log on stderr, not through ``progress``. Otherwise in this process, with ``progress``."""
    if jobs > 1 and len(seeds) > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(seeds)), mp_context=ctx, initializer=_worker_init
        ) as pool:
            futures = [pool.submit(train, int(s)) for s in seeds]
            return [f.result() for f in futures]
    return [train(int(s), progress=progress) for s in seeds]
