"""The small SQLite files the bot keeps its own state in (seen items, approvals, configs,
Reddit's orders)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import ClassVar

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
