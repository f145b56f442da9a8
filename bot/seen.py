"""A persisted set of the fullnames already published, so restarts never re-emit.

One SQLite table ``seen(fullname PRIMARY KEY, kind, subreddit, created_utc, via, seen_at)``.
``via`` records whether the item came from the live stream or a reconciliation sweep, which is
how gaps are counted across restarts too.
"""

from __future__ import annotations

from pathlib import Path

from bot.sqlite_store import SqliteStore

__all__ = ["SeenStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    fullname TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subreddit TEXT NOT NULL,
    created_utc INTEGER NOT NULL,
    via TEXT NOT NULL,
    seen_at REAL NOT NULL,
    parent TEXT
);
CREATE INDEX IF NOT EXISTS seen_parent ON seen (parent);
CREATE TABLE IF NOT EXISTS watermark (
    subreddit TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_utc INTEGER NOT NULL,
    PRIMARY KEY (subreddit, kind)
);
"""


class SeenStore(SqliteStore):
    """Dedupe by fullname, persisted. ``path=':memory:'`` for a throw-away store."""

    schema = _SCHEMA

    def __init__(self, path: str | Path = ":memory:") -> None:
        super().__init__(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    def __contains__(self, fullname: object) -> bool:
        return self._one("SELECT 1 FROM seen WHERE fullname=?", (fullname,)) is not None

    def add(
        self,
        fullname: str,
        kind: str,
        subreddit: str,
        created_utc: int,
        via: str,
        now: float,
        parent: str | None = None,
    ) -> bool:
        """Record ``fullname``; False when it was already there (a duplicate)."""
        return self.add_many([(fullname, kind, subreddit, created_utc, via, parent)], now) == 1

    def add_many(self, rows: list[tuple[str, str, str, int, str, str | None]], now: float) -> int:
        """Record a batch ``(fullname, kind, subreddit, created_utc, via, parent)`` in one
        transaction; returns how many were new."""
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO seen VALUES (?,?,?,?,?,?,?)",
                    [(f, k, s.lower(), c, v, now, p) for f, k, s, c, v, p in rows],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def has_reply(self, fullname: str) -> bool:
        """Whether any comment seen so far answers ``fullname``."""
        return self._one("SELECT 1 FROM seen WHERE parent=? LIMIT 1", (fullname,)) is not None

    def count(self, via: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM seen", tuple[str, ...]()
        if via is not None:
            sql, args = sql + " WHERE via=?", (via,)
        return int(self._one(sql, args)[0])

    def watermark(self, subreddit: str, kind: str) -> int | None:
        row = self._one(
            "SELECT created_utc FROM watermark WHERE subreddit=? AND kind=?",
            (subreddit.lower(), kind),
        )
        return None if row is None else int(row[0])

    def set_watermark(self, subreddit: str, kind: str, created_utc: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO watermark VALUES (?,?,?) ON CONFLICT(subreddit, kind)"
                " DO UPDATE SET created_utc=excluded.created_utc",
                (subreddit.lower(), kind, created_utc),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
