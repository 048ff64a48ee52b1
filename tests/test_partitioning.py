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
