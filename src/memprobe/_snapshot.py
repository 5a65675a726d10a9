from __future__ import annotations

import contextlib
import gc
import sys
from types import TracebackType
from typing import Callable, Dict, Optional, Tuple, Type, TypeVar

from ._gc import census, gc_state
from ._interpreter import DEBUG_BUILD, FREE_THREADED, HEXVERSION, allocator, describe
from ._memprobe import MemprobeError
from ._mimalloc import mimalloc
from ._pymalloc import pymalloc
from ._serialize import generation_key, type_name
from ._types import MimallocClassDelta, SizeClassDelta, Snapshot, SnapshotDiff, SnapshotMismatch, TypeCounts

__all__ = ["NOISE_BLOCKS", "attempt", "diff", "measure", "snapshot"]

# Blocks a snapshot itself may add to the next reading (dicts, tuples and
# dataclasses of the previous parts): the tolerance diffs are tested with.
# A mimalloc part holds one row per heap kind and block size (about 130 on a
# free-threaded build, each a tuple and its ints), so it adds more: 2,711
# blocks measured on 3.14.10 under PYTHONMALLOC=mimalloc and 3,279 on
# 3.14.7t once earlier garbage is collected (2,500 passed only while the
# collector, running inside the measured block, freed older garbage).
T = TypeVar("T")
NOISE_BLOCKS = 4000 if allocator().family == "mimalloc" else 1000


def diff(before: Snapshot, after: Snapshot) -> SnapshotDiff:
    """``after - before``: every count after minus before; the size classes
    and types that changed, largest change first."""
    if (before.interpreter, before.hexversion) != (after.interpreter, after.hexversion):
        raise SnapshotMismatch(
            f"cannot diff snapshots of different interpreters: {before.interpreter} "
            f"(0x{before.hexversion:08x}) and {after.interpreter} (0x{after.hexversion:08x})")
    b, a = before.pymalloc, after.pymalloc
    classes: Tuple[SizeClassDelta, ...] = ()
    if b is not None and a is not None:
        indexes = sorted({c.class_index for c in b.size_classes} | {c.class_index for c in a.size_classes})
        deltas = []
        for i in indexes:
            cb, ca = b.size_class(i), a.size_class(i)
            if (ca.pools, ca.blocks_in_use) != (cb.pools, cb.blocks_in_use):
                deltas.append(SizeClassDelta(i, ca.block_size, ca.pools - cb.pools,
                                             ca.blocks_in_use - cb.blocks_in_use))
        classes = tuple(sorted(deltas, key=lambda d: -abs(d.blocks_in_use)))

    def delta(field: str) -> Optional[int]:
        if a is None or b is None:
            return None
        return int(getattr(a, field)) - int(getattr(b, field))

    mb, ma = before.mimalloc, after.mimalloc
    mi_classes: Tuple[MimallocClassDelta, ...] = ()
    if mb is not None and ma is not None:
        keys = sorted({(m.heap, m.block_size) for m in mb.size_classes + ma.size_classes})
        mi_deltas = []
        for heap, size in keys:
            was, now = mb.size_class(heap, size), ma.size_class(heap, size)
            if (now.pages, now.blocks_in_use) != (was.pages, was.blocks_in_use):
                mi_deltas.append(MimallocClassDelta(heap, size, now.pages - was.pages,
                                                    now.blocks_in_use - was.blocks_in_use))
        mi_classes = tuple(sorted(mi_deltas, key=lambda d: -abs(d.blocks_in_use)))
    generation_keys = list(before.objects_by_generation)
    generation_keys += [k for k in after.objects_by_generation if k not in generation_keys]
    types = {k: after.objects_by_type.get(k, 0) - before.objects_by_type.get(k, 0)
             for k in set(before.objects_by_type) | set(after.objects_by_type)}
    return SnapshotDiff(
        interpreter=after.interpreter,
        pymalloc_available=a is not None and b is not None,
        allocated_blocks=after.allocated_blocks - before.allocated_blocks,
        blocks_in_use=delta("blocks_in_use"),
        raw_allocated_blocks=delta("raw_allocated_blocks"),
        arenas_allocated=delta("arenas_allocated_total"),
        arenas_freed=delta("arenas_reclaimed"),
        arenas_current=delta("arenas_current"),
        arenas_highwater=delta("arenas_highwater"),
        size_classes=classes,
        mimalloc_available=mb is not None and ma is not None,
        mimalloc_blocks_in_use=ma.blocks_in_use - mb.blocks_in_use if ma and mb else None,
        mimalloc_pages=ma.pages - mb.pages if ma and mb else None,
        mimalloc_classes=mi_classes,
        objects_by_generation={k: after.objects_by_generation.get(k, 0) - before.objects_by_generation.get(k, 0)
                               for k in generation_keys},
        objects_by_type=dict(sorted(((k, v) for k, v in types.items() if v), key=lambda kv: (-abs(kv[1]), kv[0]))),
    )


def attempt(probe: Callable[[], T]) -> Tuple[Optional[T], Optional[str]]:
    """(probe(), None), or (None, why) when it raised a memprobe error."""
    try:
        return probe(), None
    except MemprobeError as exc:
        return None, str(exc)


def _by_name(counts: TypeCounts) -> Dict[str, int]:
    """Counts by ``module.qualname``; types that share a name (made by a
    factory, say) add up."""
    named: Dict[str, int] = {}
    for tp, n in counts.items():
        name = type_name(tp)
        named[name] = named.get(name, 0) + n
    return named


def snapshot() -> Snapshot:
    """Allocator and collector state now, read without any tracing hooks."""
    pymalloc_snapshot, unavailable = attempt(pymalloc)
    mimalloc_snapshot, mimalloc_unavailable = attempt(mimalloc)
    state = gc_state()
    counted = census()
    allocated = sys.getallocatedblocks()
    return Snapshot(
        interpreter=describe(),
        hexversion=HEXVERSION,
        debug_build=DEBUG_BUILD,
        free_threaded=FREE_THREADED,
        allocated_blocks=allocated,
        pymalloc=pymalloc_snapshot,
        pymalloc_unavailable=unavailable,
        mimalloc=mimalloc_snapshot,
        mimalloc_unavailable=mimalloc_unavailable,
        gc=state,
        objects_by_generation={generation_key(g): n for g, n in counted.by_generation.items()},
        objects_by_type=_by_name(counted.by_type),
    )


class measure(contextlib.ContextDecorator):
    """Snapshots before and after a block (or each call of a function).

    >>> with measure() as m:
    ...     data = [object() for _ in range(1000)]
    >>> m.diff.objects_by_type["builtins.object"] >= 0
    True

    With ``collect=True`` a full ``gc.collect()`` runs before each snapshot,
    so cyclic garbage does not show as growth.
    """

    def __init__(self, collect: bool = False) -> None:
        self.collect = collect
        self.before: Optional[Snapshot] = None
        self.after: Optional[Snapshot] = None
        self._diff: Optional[SnapshotDiff] = None

    @property
    def diff(self) -> SnapshotDiff:
        if self._diff is None:
            raise MemprobeError("measure(): the block has not finished yet")
        return self._diff

    def __enter__(self) -> "measure":
        self._diff = None
        if self.collect:
            gc.collect()
        self.before = snapshot()
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self.collect:
            gc.collect()
        self.after = snapshot()
        assert self.before is not None
        self._diff = self.after - self.before
