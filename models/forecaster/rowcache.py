"""A bounded LRU of feature rows by key (the forecaster's creation-time rows by TLC name)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

__all__ = ["DESIGN_CACHE_SIZE", "RowCache"]

#: default rows kept: ~3 h of TLCs at 5 TLCs/s, a few tens of MB of float32 rows
DESIGN_CACHE_SIZE = 50_000


class RowCache:
    """Rows (1-d arrays) by key, the least recently used dropped beyond ``size`` keys."""

    def __init__(self, size: int) -> None:
        self.size = max(0, int(size))
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def put_many(self, keys: Sequence[str], rows: np.ndarray) -> None:
        if not self.size:
            return
        for k, r in zip(keys, rows):
            self._rows[k] = np.array(r, copy=True)
            self._rows.move_to_end(k)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def has_all(self, keys: Sequence[str]) -> bool:
        """Whether every key's row is held (no copy, no change of recency)."""
        return bool(keys) and all(k in self._rows for k in keys)

    def get_many(self, keys: Sequence[str]) -> np.ndarray | None:
        """The rows of every key stacked, or None when any is missing."""
        if not self.has_all(keys):
            return None
        for k in keys:
            self._rows.move_to_end(k)
        return np.stack([self._rows[k] for k in keys])
