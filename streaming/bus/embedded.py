"""The embedded, in-process bus (the zero-setup default; docs/architecture.md, "What runs where").

Same semantics as the Kafka backend: topics split into partitions, a record's partition is a
stable hash of its key (so a post's comments share one), offsets grow per partition, and each
consumer group has committed offsets. With ``path`` set, the log and the committed offsets are
kept in a SQLite file, so a restarted process resumes after its last commit.

With ``compact`` (the service's setting), records every consumer group of their topic has
committed are dropped from memory and from the file, and a topic no group reads keeps only its
last ``retain_unread`` records: memory stays bounded however long the service runs. A group
that first polls a topic later starts at the oldest record still kept (Kafka's retention).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

from streaming.bus.base import DEFAULT_MAX_RECORD_BYTES, Bus, Message, check_size

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


@dataclass(eq=False)
class EmbeddedBus(Bus):
    """A thread-safe in-memory log; optionally persisted to SQLite at ``path``."""

    partitions: int = 4
    path: str | Path | None = None
    _: KW_ONLY
    compact: bool = False
    retain_unread: int = 10_000
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES

    def __post_init__(self) -> None:
        self._logs: dict[str, list[list[Message]]] = {}
        #: offset of the first record kept in memory, per (topic, partition)
        self._base: dict[tuple[str, int], int] = {}
        #: consumer groups known to read each topic (compaction waits for all of them)
        self._readers: dict[str, set[str]] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._position: dict[tuple[str, str, int], int] = {}
        self._cond = threading.Condition()
        self._rr = 0
        self._pending: list[Message] = []
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False)
            self._db.executescript(_SCHEMA)
            self._load()

    # -- persistence -------------------------------------------------------------------
    def _load(self) -> None:
        assert self._db is not None
        for topic, part, off, key, value, ts in self._db.execute(
            "SELECT topic, part, off, key, value, ts FROM log ORDER BY topic, part, off"
        ):
            parts = self._topic(topic, max(self.partitions, part + 1))
            if not parts[part]:
                self._base[(topic, part)] = off
            parts[part].append(Message(topic, part, off, key, bytes(value), ts))
        for grp, topic, part, off in self._db.execute("SELECT grp, topic, part, off FROM offsets"):
            self._committed[(grp, topic, part)] = off
            self._readers.setdefault(topic, set()).add(grp)
            parts = self._topic(topic, max(self.partitions, part + 1))
            if not parts[part]:  # everything committed was compacted away
                self._base[(topic, part)] = max(self._base.get((topic, part), 0), off)

    def _end(self, topic: str, part: int, log: list[Message]) -> int:
        return self._base.get((topic, part), 0) + len(log)

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

    def register_group(self, group_id: str, topics: Sequence[str]) -> None:
        """Declare that ``group_id`` reads ``topics`` (compaction keeps what it has not
        committed, even before its first poll)."""
        with self._cond:
            for t in topics:
                self._readers.setdefault(t, set()).add(group_id)

    def partitions_for(self, topic: str) -> int:
        with self._cond:
            return len(self._topic(topic))

    def publish(self, topic: str, key: str | None, value: bytes) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError("value must be bytes")
        check_size(topic, key, value, self.max_record_bytes)
        with self._cond:
            parts = self._topic(topic)
            self._rr += 1
            p = partition_for(key, len(parts), self._rr)
            off = self._end(topic, p, parts[p])
            msg = Message(topic, p, off, key, bytes(value), int(time.time() * 1000))
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
            self._readers.setdefault(t, set()).add(group_id)
            for p, log in enumerate(self._topic(t)):
                k = (group_id, t, p)
                base = self._base.get((t, p), 0)
                pos = max(base, self._position.get(k, self._committed.get(k, 0)))
                if pos < base + len(log):
                    cursors.append((k, log, pos, base))
        share = max(1, max_records // max(1, len(cursors)))
        for k, log, pos, base in cursors:
            i = pos - base
            take = log[i : i + min(share, max_records - len(out))]
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
            if self.compact:
                self._compact({(t, p) for _, t, p in upto})

    def _compact(self, parts: set[tuple[str, int]]) -> None:
        """Drop records every reader of their topic has committed (caller holds the lock)."""
        dropped: list[tuple[str, int, int]] = []
        for t, p in parts:
            readers = self._readers.get(t, set())
            if not readers:
                continue
            upto = min(self._committed.get((g, t, p), 0) for g in readers)
            dropped += self._drop_before(t, p, upto)
        for t, logs in self._logs.items():  # topics no group reads: keep the newest records
            if self._readers.get(t):
                continue
            for p, log in enumerate(logs):
                if len(log) > 2 * self.retain_unread:
                    dropped += self._drop_before(t, p, self._end(t, p, log) - self.retain_unread)
        if dropped and self._db is not None:
            self._db.executemany("DELETE FROM log WHERE topic=? AND part=? AND off<?", dropped)
            self._db.commit()

    def _drop_before(self, t: str, p: int, upto: int) -> list[tuple[str, int, int]]:
        base = self._base.get((t, p), 0)
        n = upto - base
        if n <= 0:
            return []
        del self._logs[t][p][:n]
        self._base[(t, p)] = upto
        return [(t, p, upto)]

    def rewind(self, group_id: str) -> None:
        """Forget uncommitted positions (what a restart or rebalance does)."""
        with self._cond:
            for k in [k for k in self._position if k[0] == group_id]:
                del self._position[k]

    def lag(self, group_id: str, topics: Sequence[str]) -> int:
        """Records not yet committed by ``group_id`` on ``topics``."""
        with self._cond:
            return sum(
                max(0, self._end(t, p, log) - self._committed.get((group_id, t, p), 0))
                for t in topics
                for p, log in enumerate(self._topic(t))
            )

    def end_offsets(self, topic: str) -> list[int]:
        with self._cond:
            return [self._end(topic, p, log) for p, log in enumerate(self._topic(topic))]

    def retained(self) -> int:
        """Records held in memory (bounded when ``compact`` is on)."""
        with self._cond:
            return sum(len(log) for logs in self._logs.values() for log in logs)

    def messages(self, topic: str) -> list[Message]:
        """Every record of a topic still kept (for tests and reports)."""
        with self._cond:
            return [m for log in self._topic(topic) for m in log]

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None
