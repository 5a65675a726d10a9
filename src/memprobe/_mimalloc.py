"""mimalloc(): typed snapshot of mimalloc's heaps from the raw numbers the
extension gathers in C (free-threaded builds, and PYTHONMALLOC=mimalloc on
3.13+)."""
from __future__ import annotations

from . import _memprobe
from ._memprobe import MemprobeError
from ._types import MimallocSizeClass, MimallocSnapshot

HEAP_ORDER = ("mem", "object", "gc", "gc_pre", "default")


class MimallocUnavailable(MemprobeError):
    """mimalloc does not serve allocations in this interpreter (another
    allocator is active, hooks such as tracemalloc wrap it, or the
    interpreter predates 3.13)."""


def mimalloc() -> MimallocSnapshot:
    """mimalloc's pages and blocks now, per heap kind and block size.

    Raises ``MimallocUnavailable`` when mimalloc is not the allocator and
    ``UnsupportedInterpreter`` when its layout check failed at import.
    """
    allocator = _memprobe._interpreter_facts()["allocator"]
    if allocator not in ("mimalloc", "mimalloc_debug"):
        raise MimallocUnavailable(
            f"the allocator is {allocator or 'hooked (e.g. by tracemalloc)'}, not mimalloc"
            + ("" if allocator is None else "; free-threaded builds and PYTHONMALLOC=mimalloc (3.13+) use it"))
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
        allocator=allocator,
        scope=raw["scope"],
        threads=raw["threads"],
        abandoned_pool=raw["abandoned_pool"],
        small_max=raw["small_max"],
        medium_max=raw["medium_max"],
        large_max=raw["large_max"],
        size_classes=tuple(classes),
    )


__all__ = ["MimallocUnavailable", "mimalloc"]
