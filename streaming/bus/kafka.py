"""The Kafka backend (kafka-python; docs/architecture.md, "What runs where").

* Producer: ``acks=all``, keys UTF-8 (Kafka's murmur2 partitioner keeps a key on one
  partition, so a post's comments — keyed by ``link_id`` — share a partition), bounded
  in-flight work: after ``max_pending`` unacknowledged records :meth:`publish` waits for the
  broker (``flush``) — when the broker is slower than the producer, the producer slows down.
* Consumers: one ``KafkaConsumer`` per group, ``enable_auto_commit=False``; offsets are
  committed by :meth:`commit` only after the caller's idempotent write (at-least-once). A
  rebalance listener forgets revoked partitions so a commit never names a partition this member
  no longer owns; a commit that loses a race with a rebalance is logged and the records are
  re-delivered to the new owner (harmless: writes are idempotent).
* ``fetch_max_wait_ms`` bounds how long the broker may hold a fetch that finds nothing new:
  Kafka answers a held fetch as soon as a record arrives, tansu only at the end of the wait,
  so there every stage hop waits for it (up to half a second per hop at the default 500 ms).
  A lower wait must still cover the time the broker needs to serve a fetch: tansu on S3
  storage answered every fetch empty at 100 ms, and the consumer read nothing more.
* Topics are created if missing (:meth:`ensure_topics`) with ``replication_factor`` and,
  when set, ``min.insync.replicas`` (with ``acks=all`` a write then needs that many replicas).
* ``idempotent=True`` turns on the idempotent producer (no duplicates or reordering on
  retry, up to 5 requests in flight); without it one request is in flight per connection, so
  a retried batch cannot overtake the next one. tansu (the test broker) fails the idempotent
  producer's ``InitProducerId`` after a restart, so it stays off there (``docs/reliability.md``).
* Records larger than ``max_record_bytes`` raise :class:`~streaming.bus.base.RecordTooLarge`
  before they reach the producer (a bad record, not a broker failure).
* A member should call :meth:`poll` again promptly: kafka-python (3.0) runs a group join in
  the background and hands its assignment over only to a ``poll`` that is waiting for it; a
  join that completes while its member is outside ``poll`` is dropped and sent again, which
  starts another rebalance for every member. A stage loop polls again at once when it has
  nothing to process, so this costs at most one extra round there; members polled in turn from
  one thread, each outside ``poll`` half the time, were seen to rejoin each other for minutes.
* One instance serves one thread: in one process each stage opens its own bus (its own
  producer and consumer); a lock makes concurrent misuse safe rather than lossy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from streaming.bus.base import DEFAULT_MAX_RECORD_BYTES, Bus, Message, check_size
from streaming.errors import BusError

__all__ = ["KafkaBus", "partition_for"]

logger = logging.getLogger(__name__)


def partition_for(key: str, partitions: Iterable[int]) -> int:
    """The partition kafka-python's default partitioner gives a record keyed ``key`` (the Java
    client's murmur2 of the UTF-8 key, modulo the topic's partitions)."""
    from kafka.partitioner.default import murmur2

    ordered = sorted(partitions)
    return ordered[(murmur2(key.encode()) & 0x7FFFFFFF) % len(ordered)]


class KafkaBus(Bus):
    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "prosocial",
        session_timeout_ms: int = 6000,
        max_poll_interval_ms: int = 300_000,
        fetch_max_wait_ms: int = 500,
        max_pending: int = 5000,
        max_block_ms: int = 60_000,
        auto_offset_reset: str = "earliest",
        send_attempts: int = 5,
        replication_factor: int = 1,
        min_insync_replicas: int | None = None,
        idempotent: bool = False,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        **extra: Any,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.replication_factor = replication_factor
        self.min_insync_replicas = min_insync_replicas
        self.max_record_bytes = max_record_bytes
        self._lock = threading.RLock()
        self._consumer_cfg = dict(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(500, session_timeout_ms // 3),
            max_poll_interval_ms=max_poll_interval_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
            **extra,
        )
        # Idempotence is opt-in: the design is at-least-once + idempotent writes, and after
        # a broker restart tansu answered the idempotent producer's InitProducerId with an
        # unknown error, a fatal state in which kafka-python drops every queued record.
        self._producer_cfg = {
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "acks": "all",
            "linger_ms": 5,
            "max_block_ms": max_block_ms,
            "retries": 10,
            "enable_idempotence": idempotent,
            "max_in_flight_requests_per_connection": 5 if idempotent else 1,
            "max_request_size": max_record_bytes + 4096,
            "key_serializer": lambda k: None if k is None else k.encode(),
        }
        self._producer: Any = None
        self.max_pending = max_pending
        self.send_attempts = send_attempts
        #: records sent since the last successful flush, with their delivery futures
        self._sent: list[tuple[str, str | None, bytes, Any]] = []
        self._consumers: dict[str, Any] = {}
        self._owned: dict[str, set[tuple[str, int]]] = {}
        self._done: dict[tuple[str, str, int], int] = {}

    # -- producer ----------------------------------------------------------------------
    def _prod(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer

            try:
                self._producer = KafkaProducer(**self._producer_cfg)
            except Exception as exc:  # NoBrokersAvailable and friends
                raise BusError(f"cannot connect producer to {self.bootstrap}: {exc}") from exc
        return self._producer

    def publish(self, topic: str, key: str | None, value: bytes) -> None:
        value = bytes(value)
        check_size(topic, key, value, self.max_record_bytes)
        with self._lock:
            self._sent.append((topic, key, value, self._prod().send(topic, key=key, value=value)))
            full = len(self._sent) >= self.max_pending
        if full:
            self.flush()

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every record published since the last flush is acknowledged. Records
        the producer failed to deliver are re-sent on a fresh producer (at-least-once), up to
        ``send_attempts`` times; then :class:`BusError` — the caller must not commit its
        input offsets (a stage exits without committing, and its input is re-delivered)."""
        with self._lock:
            self._flush(timeout_s)

    def _flush(self, timeout_s: float | None) -> None:
        from kafka.errors import KafkaError

        for attempt in range(1, self.send_attempts + 1):
            if self._producer is None or not self._sent:
                self._sent.clear()
                return
            try:
                self._producer.flush(timeout=timeout_s)
            except KafkaError as exc:  # a flush timeout: nothing is known delivered
                logger.warning("producer flush failed (%s); re-checking deliveries", exc)
            failed = [(t, k, v) for t, k, v, f in self._sent if not f.succeeded()]
            if not failed:
                self._sent.clear()
                return
            why = next((f.exception for *_, f in self._sent if f.failed()), "not acknowledged")
            logger.warning(
                "%d of %d records not delivered (%s); re-sending on a new producer "
                "(attempt %d of %d)",
                len(failed),
                len(self._sent),
                why,
                attempt,
                self.send_attempts,
            )
            self._drop_producer()
            time.sleep(min(5.0, 0.5 * attempt))
            self._sent = []
            for t, k, v in failed:
                self._sent.append((t, k, v, self._prod().send(t, key=k, value=v)))
        n = len(self._sent)
        self._sent.clear()
        raise BusError(
            f"{n} records not delivered to {self.bootstrap} after {self.send_attempts} attempts"
        )

    def _drop_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception:  # a broken producer may fail to close
                logger.debug("closing a failed producer", exc_info=True)
            self._producer = None

    # -- admin -------------------------------------------------------------------------
    def reachable(self, timeout_s: float = 1.0) -> str | None:
        """``None`` when a bootstrap broker accepts a connection, else why not. A socket of its
        own (the health endpoint's thread must not use the stages' clients)."""
        import socket

        errors = []
        for hp in self.bootstrap.split(","):
            host, _, port = hp.strip().rpartition(":")
            try:
                with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                    return None
            except (OSError, ValueError) as exc:
                errors.append(f"{hp.strip()}: {exc}")
        return "broker unreachable: " + "; ".join(errors)

    def ensure_topics(self, topics: Sequence[str], partitions: int = 1) -> None:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        deadline = time.monotonic() + 30
        while True:
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap, client_id=f"{self.client_id}-admin"
                )
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise BusError(f"cannot reach broker {self.bootstrap}: {exc}") from exc
                time.sleep(0.5)
        try:
            existing = set(admin.list_topics())
            configs = (
                {"min.insync.replicas": str(self.min_insync_replicas)}
                if self.min_insync_replicas
                else None
            )
            new = [
                NewTopic(
                    t,
                    num_partitions=partitions,
                    replication_factor=self.replication_factor,
                    topic_configs=configs,
                )
                for t in topics
                if t not in existing
            ]
            if new:
                try:
                    admin.create_topics(new)
                except TopicAlreadyExistsError:
                    pass
                logger.info("created topics %s", [t.name for t in new])
        finally:
            admin.close()

    # -- consumers ---------------------------------------------------------------------
    def _consumer(self, group_id: str, topics: Sequence[str], max_records: int) -> Any:
        c = self._consumers.get(group_id)
        if c is None:
            from kafka import ConsumerRebalanceListener, KafkaConsumer

            owned: set[tuple[str, int]] = set()
            self._owned[group_id] = owned

            class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
                def on_partitions_revoked(self, revoked: Any) -> None:
                    for tp in revoked:
                        owned.discard((tp.topic, tp.partition))
                    logger.info("group %s: partitions revoked %s", group_id, sorted(revoked))

                def on_partitions_assigned(self, assigned: Any) -> None:
                    for tp in assigned:
                        owned.add((tp.topic, tp.partition))
                    logger.info("group %s: partitions assigned %s", group_id, sorted(assigned))

            try:
                c = KafkaConsumer(
                    group_id=group_id, max_poll_records=max_records, **self._consumer_cfg
                )
            except Exception as exc:
                raise BusError(f"cannot connect consumer to {self.bootstrap}: {exc}") from exc
            c.subscribe(list(topics), listener=_Listener())
            self._consumers[group_id] = c
        return c

    def owns(self, group_id: str, topic: str, key: str) -> bool:
        """The partition the producer's default partitioner (murmur2 of the key) sends ``key``
        to, among the partitions assigned to this member; False before the first assignment
        and during a rebalance."""
        owned = self._owned.get(group_id)
        c = self._consumers.get(group_id)
        if not owned or c is None:
            return False
        parts = c.partitions_for_topic(topic)
        if not parts:
            return False
        return (topic, partition_for(key, parts)) in owned

    def poll(
        self, group_id: str, topics: Sequence[str], max_records: int = 500, timeout_s: float = 1.0
    ) -> list[Message]:
        c = self._consumer(group_id, topics, max_records)
        batches = c.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        out: list[Message] = []
        for tp, recs in batches.items():
            for r in recs:
                key = r.key.decode("utf-8", "replace") if isinstance(r.key, bytes) else r.key
                out.append(Message(tp.topic, tp.partition, r.offset, key, r.value, r.timestamp))
        return out

    def commit(self, group_id: str, messages: Sequence[Message]) -> None:
        from kafka import TopicPartition
        from kafka.errors import CommitFailedError, KafkaError
        from kafka.structs import OffsetAndMetadata

        c = self._consumers.get(group_id)
        if c is None or not messages:
            return
        owned = self._owned.get(group_id, set())
        upto: dict[tuple[str, int], int] = {}
        for m in messages:
            k = (m.topic, m.partition)
            upto[k] = max(upto.get(k, 0), m.offset + 1)
        offsets = {
            TopicPartition(t, p): OffsetAndMetadata(off, "", -1)
            for (t, p), off in upto.items()
            if not owned or (t, p) in owned
        }
        if not offsets:
            return
        try:
            c.commit(offsets)
            for k, v in offsets.items():
                self._done[(group_id, k.topic, k.partition)] = v.offset
        except (CommitFailedError, KafkaError) as exc:
            logger.warning(
                "group %s: commit of %s failed (%s); records will be re-delivered",
                group_id,
                {f"{k.topic}/{k.partition}": v.offset for k, v in offsets.items()},
                exc,
            )

    def lag(self, group_id: str, topics: Sequence[str]) -> int:
        from kafka.errors import KafkaError

        c = self._consumers.get(group_id)
        if c is None:
            return 0
        # Local figures only (high-water marks from fetch responses, offsets this member
        # committed): no broker round-trip, so it never stalls a rebalance.
        total = 0
        try:
            for tp in c.assignment():
                hw = c.highwater(tp)
                if hw is not None:
                    total += max(0, hw - self._done.get((group_id, tp.topic, tp.partition), 0))
        except KafkaError as exc:
            raise BusError(f"lag of group {group_id} unavailable: {exc}") from exc
        return total

    def close(self) -> None:
        if self._producer is not None:
            try:
                self.flush(timeout_s=10)
            finally:
                if self._producer is not None:
                    self._producer.close(timeout=5)
                    self._producer = None
        for c in self._consumers.values():
            try:
                c.close(autocommit=False)
            except Exception:  # pragma: no cover - best effort on shutdown
                logger.debug("consumer close failed", exc_info=True)
        self._consumers.clear()
