"""mimalloc(): typed snapshot of mimalloc's heaps, and every derived number,
from the plain rows the extension reads (free-threaded builds, and
PYTHONMALLOC=mimalloc on 3.13+)."""
from __future__ import annotations

from typing import Any, Optional, Tuple

from . import _memprobe
from ._interpreter import FREE_THREADED, allocator
from ._types import MimallocSizeClass, MimallocSnapshot, Rows

# Heap kinds in the extension's index order (mimalloc.c): CPython's four
# free-threaded heaps, then a default build's one heap.
HEAPS = ("mem", "object", "gc", "gc_pre", "default")


def mimalloc() -> MimallocSnapshot:
    """mimalloc's pages and blocks now, per heap kind and block size.

    Raises ``MimallocUnavailable`` when mimalloc is not the allocator and
    ``UnsupportedInterpreter`` when its layout check failed at import.
    """
    return snapshot_from_reading(_memprobe._mimalloc())


def snapshot_from_reading(raw: Tuple[Any, ...], name: Optional[str] = None) -> MimallocSnapshot:
    """The snapshot of what _mimalloc() read (in another process, whose
    allocator is ``name``: attach)."""
    threads, abandoned_pool, small_max, medium_max, large_max, rows = raw
    # Rows sorted as tuples (heap index, block size, ...), without key=
    # (see _gc._most_common).
    classes = [
        MimallocSizeClass(
            heap=HEAPS[heap], block_size=size, pages=pages, blocks_in_use=used - pending,
            blocks_pending=pending, blocks_free=capacity - used,
            bytes_reserved=reserved * size, bytes_committed=capacity * size,
            abandoned_pages=abandoned)
        for heap, size, pages, used, pending, capacity, reserved, abandoned in sorted(rows)]
    return MimallocSnapshot(
        allocator=allocator().name if name is None else name,
        scope="all-threads" if FREE_THREADED else "current-thread",
        threads=threads,
        abandoned_pool=abandoned_pool,
        small_max=small_max,
        medium_max=medium_max,
        large_max=large_max,
        size_classes=Rows(classes),
    )
