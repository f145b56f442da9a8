"""The bus interface every backend implements (docs/architecture.md, "Events and topics").

Producers call :meth:`Bus.publish` with a topic, a string key (a Reddit fullname, or the
``link_id`` for comments) and bytes (JSON). Consumers poll :class:`Message` batches for a
consumer group and commit offsets only after their idempotent write (at-least-once).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from streaming.errors import StreamingError

__all__ = ["DEFAULT_MAX_RECORD_BYTES", "Bus", "Message", "RecordTooLarge", "check_size"]

#: the largest record (key + value) a bus accepts: Kafka's default ``message.max.bytes`` less
#: the record overhead
DEFAULT_MAX_RECORD_BYTES = 1_000_000


class RecordTooLarge(StreamingError):
    """A record exceeds the bus's size limit: a bad record, never retried."""

    def __init__(self, topic: str, key: str | None, size: int, limit: int) -> None:
        super().__init__(f"record_too_large: {size} bytes on {topic} (limit {limit})")
        self.topic, self.key, self.size, self.limit = topic, key, size, limit


def check_size(topic: str, key: str | None, value: bytes, limit: int) -> None:
    """Raise :class:`RecordTooLarge` when ``key`` + ``value`` exceed ``limit`` bytes."""
    size = len(value) + (len(key.encode()) if key else 0)
    if size > limit:
        raise RecordTooLarge(topic, key, size, limit)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int | None = None


class Bus(ABC):
    """A topic-partitioned log with consumer groups."""

    #: records larger than this (key + value bytes) raise :class:`RecordTooLarge`
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES

    @abstractmethod
    def publish(self, topic: str, key: str | None, value: bytes) -> None:
        """Append one record (asynchronously; :meth:`flush` waits for delivery)."""

    @abstractmethod
    def flush(self, timeout_s: float | None = None) -> None:
        """Block until everything published so far is durable in the log."""

    @abstractmethod
    def poll(
        self, group_id: str, topics: Sequence[str], max_records: int = 500, timeout_s: float = 1.0
    ) -> list[Message]:
        """Next uncommitted records for ``group_id`` on ``topics`` (empty list on timeout)."""

    @abstractmethod
    def commit(self, group_id: str, messages: Sequence[Message]) -> None:
        """Commit offsets past ``messages`` for ``group_id`` (after the idempotent write)."""

    @abstractmethod
    def lag(self, group_id: str, topics: Sequence[str]) -> int:
        """Records on ``topics`` not yet committed by ``group_id`` (the consumer lag)."""

    def owns(self, group_id: str, topic: str, key: str) -> bool:
        """Whether this process's member of ``group_id`` is assigned the partition of ``topic``
        that records keyed ``key`` go to: work keyed like a topic's records but not driven by
        them (a scorer's timed re-forecasts) is then done by one member of the group. A log
        with one member per group (in-process) owns every key."""
        return True

    def reachable(self) -> str | None:
        """``None`` when the log can be reached now, else why not (for health; it must not
        touch state a stage thread uses). In-process logs are always reachable."""
        return None

    def ensure_topics(self, topics: Sequence[str], partitions: int = 1) -> None:
        """Create topics if missing (no-op for backends that create on first use)."""

    def register_group(self, group_id: str, topics: Sequence[str]) -> None:
        """Declare that ``group_id`` reads ``topics`` before its first poll (a no-op for
        backends whose retention does not depend on readers)."""

    def close(self) -> None:
        """Release connections; pending records are flushed first."""
