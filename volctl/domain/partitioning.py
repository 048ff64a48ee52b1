"""Which partition a product's messages go to, for every producer volctl runs.

Ticks of one product must stay in order, so a product lives on one partition and the consume group
can never use more members than there are partitions with products on them. Kafka's default
partitioner hashes the key: with the three default partitions BTC-USD lands on 0 and both ETH-USD
and SOL-USD on 2, leaving partition 1 empty and a third consumer idle. Known products (the config's
`kafka.products`, in order) are therefore spread round-robin over the partitions; any other key
falls back to the default partitioner's murmur2 hash, so other producers that hash keys agree with
volctl on every product it does not know. To follow this from another producer: send product i of
`kafka.products` to partition i mod the partition count.
"""

from __future__ import annotations

from collections.abc import Sequence


class ProductPartitioner:
    def __init__(self, products: Sequence[str]) -> None:
        self.order = {product.encode(): index for index, product in enumerate(dict.fromkeys(products))}

    def __call__(self, key: bytes | None, partitions: Sequence[int]) -> int:
        """The partition (one of `partitions`) of a message keyed `key`."""
        ordered = sorted(partitions)
        index = self.order.get(key) if key is not None else None
        if index is not None:
            return ordered[index % len(ordered)]
        from kafka.partitioner import murmur2  # Kafka's own hash: the default partitioner's choice

        return ordered[(murmur2(key or b"") & 0x7FFFFFFF) % len(ordered)]


def products_by_partition(products: Sequence[str], partitions: int) -> dict[int, list[str]]:
    """Which of the known products each partition carries (a partition with none is idle)."""
    choose = ProductPartitioner(products)
    found: dict[int, list[str]] = {p: [] for p in range(partitions)}
    for product in dict.fromkeys(products):
        found[choose(product.encode(), range(partitions))].append(product)
    return found
