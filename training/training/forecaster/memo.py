"""Remembering split-independent per-text feature rows across the training runs of one job.

The by-post and the time-ordered runs featurize the same TLC texts; the text features and
the TLC-level prosocial metrics (aux models) do not depend on the split, so the second run
reads them from memory instead of recomputing them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["MemoRows", "MemoText"]


class MemoRows:
    """``fn(texts) -> (n × m) rows``, computing only texts not seen before (one batch)."""

    def __init__(self, fn: Callable[[Sequence[str]], Any]) -> None:
        self.fn = fn
        self.rows: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.rows))
        if todo:
            new = np.asarray(self.fn(todo), dtype=np.float64).reshape(len(todo), -1)
            self.rows.update(zip(todo, new))
        if not texts:
            return np.zeros((0, 0))
        return np.stack([self.rows[t] for t in texts])


class MemoText:
    """A :class:`models.forecaster.text.TextFeaturizer` whose ``features`` are remembered."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._rows = MemoRows(inner.features)

    def features(self, texts: Sequence[str]) -> np.ndarray:
        return self._rows(texts).astype(np.float32)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
