"""The small SQLite files the bot keeps its own state in (seen items, approvals, configs,
Reddit's orders)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["SqliteStore"]


class SqliteStore:
    """One SQLite file (autocommit; threads share it under ``_lock``) with the subclass's
    ``schema``; ``path=':memory:'`` for a throw-away store."""

    schema: ClassVar[str] = ""

    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.executescript(self.schema)
        self._lock = threading.Lock()

    def _one(self, query: str, params: Sequence[Any] = ()) -> Any:
        """The first row ``query`` returns (``None``: none), read under the lock."""
        with self._lock:
            return self._db.execute(query, params).fetchone()

    def _dicts(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row ``query`` returns, as a mapping of column name to value."""
        with self._lock:
            cur = self._db.execute(query, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]
