"""mimalloc(): typed snapshot of mimalloc's heaps from the raw numbers the
extension gathers in C (free-threaded builds, and PYTHONMALLOC=mimalloc on
3.13+)."""
from __future__ import annotations

from . import _memprobe
from ._memprobe import MimallocUnavailable
from ._types import MimallocSizeClass, MimallocSnapshot

HEAP_ORDER = ("mem", "object", "gc", "gc_pre", "default")


def mimalloc() -> MimallocSnapshot:
    """mimalloc's pages and blocks now, per heap kind and block size.

    Raises ``MimallocUnavailable`` when mimalloc is not the allocator and
    ``UnsupportedInterpreter`` when its layout check failed at import.
    """
    raw = _memprobe._mimalloc_gather()
    classes = []
    for heap, size, pages, used, pending, capacity, reserved, abandoned in raw["rows"]:
        classes.append(MimallocSizeClass(
            heap=heap, block_size=size, pages=pages, blocks_in_use=used - pending,
            blocks_pending=pending, blocks_free=capacity - used,
            bytes_reserved=reserved * size, bytes_committed=capacity * size,
            abandoned_pages=abandoned))
    classes.sort(key=lambda c: (HEAP_ORDER.index(c.heap), c.block_size))
    return MimallocSnapshot(
        allocator=raw["allocator"],
        scope=raw["scope"],
        threads=raw["threads"],
        abandoned_pool=raw["abandoned_pool"],
        small_max=raw["small_max"],
        medium_max=raw["medium_max"],
        large_max=raw["large_max"],
        size_classes=tuple(classes),
    )


__all__ = ["MimallocUnavailable", "mimalloc"]
