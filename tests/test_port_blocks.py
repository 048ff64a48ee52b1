"""The tests' own port allocator: a stack takes 1, 1, 1, 3 and 2 ports before any service binds
them, so the allocator alone must keep those from overlapping.

CI failed on this: the cursor was taken modulo (500 - count), a different modulus per count, so once
it passed 497 a stack's third consume member and its first predict worker got the same port (the
worker bound it; consume-3 exited; its /health answered without "partitions")."""

from __future__ import annotations

from tests import conftest


def test_a_thousand_stacks_in_a_row_never_share_a_port(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for start in (0, 1, 250, 495, 497, 499):
        monkeypatch.setattr(conftest, "_cursor", [start])
        for _ in range(1000):
            taken: set[int] = set()
            for count in (1, 1, 1, 3, 2):  # kafka, prometheus, predict, consume x3, workers x2
                base = conftest.free_ports_in_a_row(count)
                ports = set(range(base, base + count))
                assert not ports & taken, f"cursor from {start}: {sorted(ports & taken)} handed out twice"
                assert ports <= set(conftest._port_block())
                taken |= ports
