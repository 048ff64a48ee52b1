"""Products spread over partitions (issue 17, point 2): known products round-robin, so three
products use three partitions; an unknown key gets Kafka's default partitioner's choice."""

from __future__ import annotations

from kafka.partitioner import murmur2

from volctl.domain.partitioning import ProductPartitioner
from volctl.domain.settings import KafkaSettings


def test_known_products_use_every_partition_and_unknown_ones_hash_like_kafka() -> None:
    partitioner = ProductPartitioner(KafkaSettings().products)
    partitions = [0, 1, 2]
    assigned = {product: partitioner(product.encode(), partitions) for product in ("BTC-USD", "ETH-USD", "SOL-USD")}
    assert assigned == {"BTC-USD": 0, "ETH-USD": 1, "SOL-USD": 2}
    # Kafka's default (murmur2) puts ETH-USD and SOL-USD on one partition and leaves partition 1 empty
    hashed = {p: (murmur2(p.encode()) & 0x7FFFFFFF) % 3 for p in ("BTC-USD", "ETH-USD", "SOL-USD")}
    assert len(set(hashed.values())) < 3
    assert partitioner(b"DOGE-USD", partitions) == (murmur2(b"DOGE-USD") & 0x7FFFFFFF) % 3  # unknown: as Kafka
    assert partitioner(b"BTC-USD", [0, 1, 2, 3, 4]) == 0  # more partitions: the same home
    assert partitioner(b"SOL-USD", [0, 1]) == 0  # fewer: wraps around


def test_two_members_never_share_the_two_demo_products() -> None:
    """Issue 24: with `scale consumers 2` on the demo, one member got partitions 0 and 1 (both
    products, range assignment) and the other the empty partition 2. The consume service assigns
    round-robin, so the partitions that carry products go to different members."""
    from types import SimpleNamespace

    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    from volctl.domain.partitioning import products_by_partition

    carried = products_by_partition(["BTC-USD", "ETH-USD"], 3)
    assert carried == {0: ["BTC-USD"], 1: ["ETH-USD"], 2: []}
    cluster = SimpleNamespace(partitions_for_topic=lambda _topic: {0, 1, 2})
    members = [SimpleNamespace(member_id=m, group_instance_id=None, metadata=SimpleNamespace(topics=["ticks.raw"]))
               for m in ("volctl-consume-2-x", "volctl-consume-a")]
    assignment = RoundRobinPartitionAssignor.assign(cluster, members)
    owners = {p: m for m, a in assignment.items() for _t, parts in a.assignment for p in parts}
    assert owners[0] != owners[1]  # BTC-USD and ETH-USD on different members
