"""The embedded, in-process bus (the zero-setup default; docs/architecture.md, "What runs where").

Same semantics as the Kafka backend: topics split into partitions, a record's partition is a
stable hash of its key (so a post's comments share one), offsets grow per partition, and each
consumer group has committed offsets. With ``path`` set, the log and the committed offsets are
kept in a SQLite file, so a restarted process resumes after its last commit.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from streaming.bus.base import Bus, Message

__all__ = ["EmbeddedBus", "partition_for"]


def partition_for(key: str | None, partitions: int, counter: int = 0) -> int:
    """Stable partition of a key (CRC32); keyless records go round-robin."""
    if key is None:
        return counter % partitions
    return zlib.crc32(key.encode("utf-8")) % partitions


_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (topic TEXT, part INTEGER, off INTEGER, key TEXT, value BLOB,
  ts INTEGER, PRIMARY KEY (topic, part, off));
CREATE TABLE IF NOT EXISTS offsets (grp TEXT, topic TEXT, part INTEGER, off INTEGER,
  PRIMARY KEY (grp, topic, part));
"""


class EmbeddedBus(Bus):
    """A thread-safe in-memory log; optionally persisted to SQLite at ``path``."""

    def __init__(self, partitions: int = 4, path: str | Path | None = None) -> None:
        self.partitions = partitions
        self._logs: dict[str, list[list[Message]]] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._position: dict[tuple[str, str, int], int] = {}
        self._cond = threading.Condition()
        self._rr = 0
        self._pending: list[Message] = []
        self._db: sqlite3.Connection | None = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.executescript(_SCHEMA)
            self._load()

    # -- persistence -------------------------------------------------------------------
    def _load(self) -> None:
        assert self._db is not None
        for topic, part, off, key, value, ts in self._db.execute(
            "SELECT topic, part, off, key, value, ts FROM log ORDER BY topic, part, off"
        ):
            parts = self._topic(topic, max(self.partitions, part + 1))
            parts[part].append(Message(topic, part, off, key, bytes(value), ts))
        for grp, topic, part, off in self._db.execute("SELECT grp, topic, part, off FROM offsets"):
            self._committed[(grp, topic, part)] = off

    def _topic(self, topic: str, partitions: int | None = None) -> list[list[Message]]:
        parts = self._logs.get(topic)
        if parts is None:
            parts = [[] for _ in range(partitions or self.partitions)]
            self._logs[topic] = parts
        return parts

    # -- Bus API -----------------------------------------------------------------------
    def ensure_topics(self, topics: Sequence[str], partitions: int = 1) -> None:
        with self._cond:
            for t in topics:
                self._topic(t, max(partitions, self.partitions))

    def partitions_for(self, topic: str) -> int:
        with self._cond:
            return len(self._topic(topic))

    def publish(self, topic: str, key: str | None, value: bytes) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError("value must be bytes")
        with self._cond:
            parts = self._topic(topic)
            self._rr += 1
            p = partition_for(key, len(parts), self._rr)
            msg = Message(topic, p, len(parts[p]), key, bytes(value), int(time.time() * 1000))
            parts[p].append(msg)
            if self._db is not None:
                self._pending.append(msg)
            self._cond.notify_all()

    def flush(self, timeout_s: float | None = None) -> None:
        with self._cond:
            if self._db is not None and self._pending:
                self._db.executemany(
                    "INSERT OR IGNORE INTO log VALUES (?,?,?,?,?,?)",
                    [
                        (m.topic, m.partition, m.offset, m.key, m.value, m.timestamp_ms)
                        for m in self._pending
                    ],
                )
                self._db.commit()
                self._pending.clear()

    def _available(self, group_id: str, topics: Sequence[str], max_records: int) -> list[Message]:
        out: list[Message] = []
        # Fair across partitions: take a slice from each in turn.
        cursors = []
        for t in topics:
            for p, log in enumerate(self._topic(t)):
                k = (group_id, t, p)
                pos = self._position.get(k, self._committed.get(k, 0))
                if pos < len(log):
                    cursors.append((k, log, pos))
        share = max(1, max_records // max(1, len(cursors)))
        for k, log, pos in cursors:
            take = log[pos : pos + min(share, max_records - len(out))]
            if not take:
                continue
            out.extend(take)
            self._position[k] = pos + len(take)
            if len(out) >= max_records:
                break
        return out

    def poll(
        self, group_id: str, topics: Sequence[str], max_records: int = 500, timeout_s: float = 1.0
    ) -> list[Message]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                out = self._available(group_id, topics, max_records)
                if out:
                    return out
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)

    def commit(self, group_id: str, messages: Sequence[Message]) -> None:
        upto: dict[tuple[str, str, int], int] = {}
        for m in messages:
            k = (group_id, m.topic, m.partition)
            upto[k] = max(upto.get(k, 0), m.offset + 1)
        with self._cond:
            for k, off in upto.items():
                if off > self._committed.get(k, 0):
                    self._committed[k] = off
            if self._db is not None:
                self.flush()
                self._db.executemany(
                    "INSERT OR REPLACE INTO offsets VALUES (?,?,?,?)",
                    [(*k, self._committed[k]) for k in upto],
                )
                self._db.commit()

    def rewind(self, group_id: str) -> None:
        """Forget uncommitted positions (what a restart or rebalance does)."""
        with self._cond:
            for k in [k for k in self._position if k[0] == group_id]:
                del self._position[k]

    def lag(self, group_id: str, topics: Sequence[str]) -> int:
        """Records not yet committed by ``group_id`` on ``topics``."""
        with self._cond:
            return sum(
                len(log) - self._committed.get((group_id, t, p), 0)
                for t in topics
                for p, log in enumerate(self._topic(t))
            )

    def end_offsets(self, topic: str) -> list[int]:
        with self._cond:
            return [len(log) for log in self._topic(topic)]

    def messages(self, topic: str) -> list[Message]:
        """Every record of a topic (for tests and reports)."""
        with self._cond:
            return [m for log in self._topic(topic) for m in log]

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None
