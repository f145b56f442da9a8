from __future__ import annotations

from pathlib import Path

from streaming.bus.base import Message
from streaming.bus.embedded import EmbeddedBus, partition_for


def _drain(bus: EmbeddedBus, group: str, topics: list[str]) -> list[Message]:
    out: list[Message] = []
    while True:
        got = bus.poll(group, topics, 100, timeout_s=0)
        if not got:
            return out
        out += got


def test_same_key_lands_on_one_partition_in_publish_order() -> None:
    bus = EmbeddedBus(partitions=4)
    for i in range(50):
        bus.publish("t", f"k{i % 5}", str(i).encode())
    msgs = _drain(bus, "g", ["t"])
    assert len(msgs) == 50
    by_key: dict[str, set[int]] = {}
    for m in msgs:
        assert m.key is not None
        by_key.setdefault(m.key, set()).add(m.partition)
        assert m.partition == partition_for(m.key, 4)
    assert all(len(p) == 1 for p in by_key.values())
    for key in by_key:
        vals = [int(m.value) for m in msgs if m.key == key]
        assert vals == sorted(vals)


def test_groups_are_independent_and_commit_means_not_redelivered() -> None:
    bus = EmbeddedBus(partitions=2)
    for i in range(10):
        bus.publish("t", f"k{i}", b"x")
    a = _drain(bus, "a", ["t"])
    bus.commit("a", a[:4])
    assert len(_drain(bus, "b", ["t"])) == 10
    bus.rewind("a")  # a restart forgets uncommitted positions
    again = _drain(bus, "a", ["t"])
    committed: dict[int, int] = {}
    for m in a[:4]:
        committed[m.partition] = max(committed.get(m.partition, 0), m.offset + 1)
    expected = {(m.partition, m.offset) for m in a if m.offset >= committed.get(m.partition, 0)}
    assert {(m.partition, m.offset) for m in again} == expected
    assert len(expected) < 10


def test_log_and_offsets_survive_restart_with_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    bus = EmbeddedBus(partitions=3, path=path)
    for i in range(30):
        bus.publish("t", f"k{i}", str(i).encode())
    bus.flush()
    got = bus.poll("g", ["t"], 30, timeout_s=0)
    bus.commit("g", got[:12])
    bus.close()
    bus2 = EmbeddedBus(partitions=3, path=path)
    rest = _drain(bus2, "g", ["t"])
    seen = {m.value for m in got[:12]}
    assert {m.value for m in rest} | seen == {str(i).encode() for i in range(30)}
    assert not seen & {m.value for m in rest}
    assert bus2.lag("g", ["t"]) == len(rest)


def test_poll_times_out_empty() -> None:
    assert EmbeddedBus().poll("g", ["nothing"], 10, timeout_s=0.05) == []
