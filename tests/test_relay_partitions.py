"""The relay places each message on the partition the Kafka clients' default partitioner
picks for its key (murmur2 of the key), so one record's events stay in one partition, in
order, as they did when aiokafka's own partitioner placed them."""

from __future__ import annotations

import random
import uuid

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from hub.connectors.relay import murmur2, partition_for

# The Java client's own test vectors (org.apache.kafka.common.utils.UtilsTest), signed.
JAVA = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("data", list(JAVA))
def test_murmur2_is_the_java_clients(data: bytes) -> None:
    h = murmur2(data)
    assert (h - (1 << 32) if h >= 1 << 31 else h) == JAVA[data]


def test_murmur2_and_the_partition_are_aiokafkas_for_every_length() -> None:
    rng = random.Random(10)
    keys = [bytes(rng.getrandbits(8) for _ in range(n)) for n in range(80) for _ in range(20)]
    keys += [str(uuid.UUID(int=rng.getrandbits(128))).encode() for _ in range(500)]
    keys += [b"\xff" * n for n in range(12)]
    for key in keys:
        assert murmur2(key) == aiokafka_murmur2(key), key
        for partitions in ([0], [0, 1, 2], list(range(7))):
            assert partition_for(key, partitions) == DefaultPartitioner()(
                key, partitions, partitions
            )
