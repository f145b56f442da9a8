"""The Kafka bus never drops a record its producer failed to deliver: it re-sends it on a
fresh producer, and raises (so the stage commits no offset) when delivery keeps failing."""

from __future__ import annotations

from typing import Any

import pytest

from streaming.bus.kafka import KafkaBus
from streaming.errors import BusError


class _Future:
    def __init__(self, ok: bool) -> None:
        self.ok = ok
        self.exception = None if ok else RuntimeError("InitProducerId: unknown error")

    def succeeded(self) -> bool:
        return self.ok

    def failed(self) -> bool:
        return not self.ok


class _Producer:
    """Delivers nothing while ``broken``; records what it was asked to send."""

    def __init__(self, log: list[tuple[str, bytes]], broken: bool) -> None:
        self.log, self.broken = log, broken

    def send(self, topic: str, key: Any = None, value: bytes = b"") -> _Future:
        if not self.broken:
            self.log.append((topic, value))
        return _Future(not self.broken)

    def flush(self, timeout: Any = None) -> None:
        pass

    def close(self, timeout: Any = None) -> None:
        pass


def _bus(monkeypatch: pytest.MonkeyPatch, broken_producers: int) -> tuple[KafkaBus, list]:
    delivered: list[tuple[str, bytes]] = []
    made = [0]
    bus = KafkaBus("127.0.0.1:1", send_attempts=3)

    def prod() -> _Producer:
        if bus._producer is None:
            made[0] += 1
            bus._producer = _Producer(delivered, broken=made[0] <= broken_producers)
        return bus._producer

    monkeypatch.setattr(bus, "_prod", prod)
    monkeypatch.setattr("streaming.bus.kafka.time.sleep", lambda s: None)
    return bus, delivered


def test_records_a_failed_producer_dropped_are_resent_on_a_new_one(monkeypatch) -> None:
    bus, delivered = _bus(monkeypatch, broken_producers=1)
    for i in range(5):
        bus.publish("reddit.comments", f"t3_{i}", f"v{i}".encode())
    bus.flush()
    assert sorted(v for _, v in delivered) == [f"v{i}".encode() for i in range(5)]


def test_delivery_that_keeps_failing_raises_instead_of_losing_records(monkeypatch) -> None:
    bus, delivered = _bus(monkeypatch, broken_producers=99)
    bus.publish("reddit.comments", "t3_x", b"v")
    with pytest.raises(BusError, match="not delivered"):
        bus.flush()
    assert delivered == []
