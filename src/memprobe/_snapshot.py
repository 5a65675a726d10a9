"""snapshot(), diff() and measure(): every part of the allocators and the
collector read at one moment (snapshot.c), typed here."""
from __future__ import annotations

import functools
import gc
import sys
from types import TracebackType
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Type, TypeVar

from . import _memprobe
from ._gc import _census_result, check_flag, gc_state_from, paused_collector
from ._interpreter import DEBUG_BUILD, FREE_THREADED, HEXVERSION, describe
from ._memprobe import MemprobeError
from ._mimalloc import snapshot_from_reading as mimalloc_from_reading
from ._pymalloc import snapshot_from_reading as pymalloc_from_reading
from ._pymalloc import state_from_words
from ._serialize import generation_key, type_name
from ._types import (MimallocClassDelta, MimallocSnapshot, PymallocSnapshot, SizeClassDelta, Snapshot, SnapshotDiff,
                     SnapshotMismatch, Rows, Table, TypeCounts, maker)

__all__ = ["NOISE_BLOCKS", "attempt", "diff", "measure", "snapshot"]

T = TypeVar("T")


# Blocks a diff may still show around a block of code that allocates
# nothing: a snapshot's own blocks are left out (see Snapshot), so what
# remains is the few objects of the baseline reading and of the caller
# (measure(), a pytest hook).  Tested on every interpreter.
NOISE_BLOCKS = 10
_SNAPSHOT = maker(Snapshot)[0]

def diff(before: Snapshot, after: Snapshot) -> SnapshotDiff:
    """``after - before``: every count after minus before; the size classes
    and types that changed, largest change first."""
    if (before.interpreter, before.hexversion) != (after.interpreter, after.hexversion):
        raise SnapshotMismatch(
            f"cannot diff snapshots of different interpreters: {before.interpreter} "
            f"(0x{before.hexversion:08x}) and {after.interpreter} (0x{after.hexversion:08x})")
    by_generation: Optional[Dict[str, int]] = None
    by_type: Optional[Dict[str, int]] = None
    gb, ga = before.objects_by_generation, after.objects_by_generation
    if gb is not None and ga is not None:
        # A list counted in only one of the two (the permanent one) is left out.
        by_generation = Table((k, ga[k] - gb[k]) for k in gb if k in ga)
    tb, ta = before.objects_by_type, after.objects_by_type
    if tb is not None and ta is not None:
        by_type = _changes(tb, ta)
    blocks: _BlockChanges = (None, None)
    started = _block_start(before, after)
    if started is not None and after.blocks_by_type is not None and after.block_bytes_by_type is not None:
        blocks = _changes(started[0], after.blocks_by_type), _changes(started[1], after.block_bytes_by_type)
    return _allocator_diff(after.interpreter, _start(before, after),
                           (after.allocated_blocks, after.pymalloc, after.mimalloc), by_generation, by_type, blocks)


def _changes(before: Dict[str, int], after: Dict[str, int]) -> Dict[str, int]:
    """after minus before, per key: only what changed, largest change first."""
    changed = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
    return Table(sorted(((k, v) for k, v in changed.items() if v), key=_largest_change_first))


# Sort keys as module-level functions, not lambdas: on 3.12/3.13 a lambda
# whose creation fails under memory pressure frees its code object twice
# (a CPython bug the tests' allocation-failure runs reach).
def _largest_change_first(item: Tuple[str, int]) -> Tuple[int, str]:
    return -abs(item[1]), item[0]


def _largest_block_change(delta: "SizeClassDelta | MimallocClassDelta") -> int:
    return -abs(delta.blocks_in_use)


# A diff's objects in pymalloc blocks by type: (blocks, bytes), or None.
_BlockChanges = Tuple[Optional[Dict[str, int]], Optional[Dict[str, int]]]


_Allocator = Tuple[Optional[int], Optional[PymallocSnapshot], Optional[MimallocSnapshot]]


def _allocator_diff(interpreter: str, before: _Allocator, after: _Allocator,
                    by_generation: Optional[Dict[str, int]], by_type: Optional[Dict[str, int]],
                    blocks: _BlockChanges = (None, None)) -> SnapshotDiff:
    """The diff of two allocator readings, (allocated blocks, pymalloc,
    mimalloc) each, with the object counts' differences given."""
    (start_blocks, b, mb), (end_blocks, a, ma) = before, after
    classes: Tuple[SizeClassDelta, ...] = ()
    if b is not None and a is not None:
        indexes = sorted({c.class_index for c in b.size_classes} | {c.class_index for c in a.size_classes})
        deltas = []
        for i in indexes:
            cb, ca = b.size_class(i), a.size_class(i)
            if (ca.pools, ca.blocks_in_use) != (cb.pools, cb.blocks_in_use):
                deltas.append(SizeClassDelta(i, ca.block_size, ca.pools - cb.pools,
                                             ca.blocks_in_use - cb.blocks_in_use))
        classes = Rows(sorted(deltas, key=_largest_block_change))

    def delta(field: str) -> Optional[int]:
        if a is None or b is None:
            return None
        return int(getattr(a, field)) - int(getattr(b, field))

    mi_classes: Tuple[MimallocClassDelta, ...] = ()
    if mb is not None and ma is not None:
        keys = sorted({(m.heap, m.block_size) for m in mb.size_classes + ma.size_classes})
        mi_deltas = []
        for heap, size in keys:
            was, now = mb.size_class(heap, size), ma.size_class(heap, size)
            if (now.pages, now.blocks_in_use) != (was.pages, was.blocks_in_use):
                mi_deltas.append(MimallocClassDelta(heap, size, now.pages - was.pages,
                                                    now.blocks_in_use - was.blocks_in_use))
        mi_classes = Rows(sorted(mi_deltas, key=_largest_block_change))
    return SnapshotDiff(
        interpreter=interpreter,
        pymalloc_available=a is not None and b is not None,
        allocated_blocks=None if end_blocks is None or start_blocks is None else end_blocks - start_blocks,
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
        objects_by_generation=by_generation,
        objects_by_type=by_type,
        blocks_by_type=blocks[0],
        block_bytes_by_type=blocks[1],
        arena_bytes=None if a is None or b is None else a.arena_bytes - b.arena_bytes,
        free_block_bytes=delta("bytes_in_available_blocks"),
        empty_pool_bytes=delta("bytes_in_unused_pools"),
    )


def attempt(probe: Callable[..., T], *args: Any) -> Tuple[Optional[T], Optional[str]]:
    """(probe(*args), None), or (None, why) when it raised a memprobe error
    (arguments passed through: no lambda is made on the snapshot path)."""
    try:
        return probe(*args), None
    except MemprobeError as exc:
        return None, str(exc)


def _holds(items: Tuple[Any, ...], target: Any) -> bool:
    """Whether target is one of items, by identity (no __eq__ runs)."""
    for item in items:
        if item is target:
            return True
    return False


def _by_name(counts: Iterable[Tuple[type, int]]) -> Dict[str, int]:
    """Counts by ``module.qualname``; types that share a name (made by a
    factory, say) add up."""
    return _added_up((type_name(tp), n) for tp, n in counts)


def _added_up(counts: Iterable[Tuple[str, int]]) -> Dict[str, int]:
    """Counts by name, a name's counts added up."""
    named: Dict[str, int] = Table()
    for name, n in counts:
        named[name] = named.get(name, 0) + n
    return named


def _part(raw: Tuple[Any, Optional[str]], build: Callable[[Any], T]) -> Tuple[Optional[T], Optional[str]]:
    """A part of the reading typed, or (None, why) when it was refused."""
    value, why = raw
    if value is None:
        return None, why
    return attempt(build, value)


def snapshot(census: bool = True, frozen: bool = False, blocks: bool = False) -> Snapshot:
    """Allocator and collector state now, every part read at one moment
    (nothing is built before everything is read), without tracing hooks.

    ``census=False`` skips the walk of the collector's lists: a cheap,
    allocator-only snapshot whose object counts are None.  The permanent
    generation is walked only with ``frozen=True`` (or when empty).
    ``blocks=True`` also counts pymalloc's blocks by the type of the object
    each holds, tracked by the collector or not (``block_census()``, 3.12+):
    a str or int leak shows by type; it is a walk of every pool, and a
    second one once the snapshot is built (its baseline)."""
    check_flag("census", census)
    check_flag("frozen", frozen)
    check_flag("blocks", blocks)
    return _take(census, frozen, collected=False, blocks=blocks)


def _take(census: bool, frozen: bool, collected: bool, blocks: bool = False) -> Snapshot:
    """snapshot(); ``collected``: the reading follows a full collection,
    so the baseline does too (a full collection also empties the
    interpreter's free lists, which building the snapshot refills)."""
    # No automatic collection between the reading and the baseline: it
    # would free objects the census counted while the baseline, read after
    # it, showed their blocks as gone already.
    with paused_collector():
        return _read_and_build(census, frozen, collected, blocks)


def _read_and_build(census: bool, frozen: bool, collected: bool, blocks: bool) -> Snapshot:
    gc_raw, census_raw, pymalloc_raw, mimalloc_raw, blocks_raw, allocated, serial = _memprobe._snapshot(
        _memprobe.READ_GC | _memprobe.READ_PYMALLOC | _memprobe.READ_MIMALLOC
        | (_memprobe.READ_CENSUS if census else 0) | (_memprobe.READ_FROZEN if frozen else 0)
        | (_memprobe.READ_BLOCKS if blocks else 0))
    pymalloc_snapshot, pymalloc_unavailable = _part(pymalloc_raw, pymalloc_from_reading)
    mimalloc_snapshot, mimalloc_unavailable = _part(mimalloc_raw, mimalloc_from_reading)
    by_generation: Optional[Dict[str, int]] = None
    by_type: Optional[Dict[str, int]] = None
    if census_raw is not None:
        counted = _census_result(None, None, (gc_raw[1], census_raw))
        by_generation = Table((generation_key(g), n) for g, n in counted.by_generation.items())
        by_type = _by_name(counted.by_type.items())
        del counted
    block_types: Optional[Tuple[type, ...]] = None
    block_names: Optional[Tuple[str, ...]] = None
    blocks_by_type = block_bytes_by_type = blocks_unavailable = None
    if blocks_raw is not None:
        blocks_unavailable = blocks_raw[1]
        if blocks_raw[0] is not None:
            types, counts, nbytes = blocks_raw[0][:3]
            blocks_by_type, block_bytes_by_type = _by_name(zip(types, counts)), _by_name(zip(types, nbytes))
            # The baseline counts these types; the buffers it reads into
            # are bytearrays, which may not have been alive before.  Rows:
            # memprobe's own, so no census counts the tuples themselves.
            # The snapshot keeps the names, not the types: a class freed
            # later must not be kept alive by it.  (No generator that stops
            # early: before 3.13 closing one makes a frame object, which
            # outlives this reading.)
            block_types = Rows(types if _holds(types, bytearray) else types + (bytearray,))
            block_names = Rows([type_name(t) for t in block_types])
            del types, counts, nbytes
    # Snapshot's fields in order (see its declaration).
    taken = _SNAPSHOT(describe(), HEXVERSION, DEBUG_BUILD, FREE_THREADED, allocated,
                      pymalloc_snapshot, pymalloc_unavailable, mimalloc_snapshot, mimalloc_unavailable,
                      gc_state_from(gc_raw), by_generation, by_type, blocks_by_type, block_bytes_by_type,
                      blocks_unavailable)
    del gc_raw, census_raw, pymalloc_raw, mimalloc_raw, blocks_raw
    object.__setattr__(taken, "_serial", serial)
    object.__setattr__(taken, "_block_names", block_names)
    # Held only by the snapshot, which lets go of them once the baseline
    # has counted their blocks.
    object.__setattr__(taken, "_block_types", block_types)
    del block_types
    if collected:
        gc.collect()
    allocators, counted_blocks = _baseline(taken)
    object.__setattr__(taken, "_block_baseline", counted_blocks)
    object.__setattr__(taken, "_baseline", allocators)
    return taken


def _baseline(taken: Optional[Snapshot] = None) -> Tuple[bytearray, Optional[bytearray]]:
    """The allocators read once the snapshot ``taken`` is built (snapshot.c:
    _baseline), into a buffer made before the reading; before that, when
    it counted blocks by type, the blocks of each of its types (blocks.c:
    _block_baseline), into a buffer made before either reading, after
    which the snapshot lets go of its types."""
    buffer = bytearray(4096)
    counted = None
    if taken is not None and getattr(taken, "_block_types", None) is not None:
        # The types are read through the snapshot each time, never held here.
        counted = bytearray(8 * (1 + 2 * len(getattr(taken, "_block_types"))))
        try:
            _memprobe._block_baseline(counted, getattr(taken, "_block_types"))   # always room: two words a type
        except MemprobeError:   # refused now (hooks installed meanwhile)
            counted = None      # diffs start from the snapshot's own counts
        object.__setattr__(taken, "_block_types", None)
    while not _memprobe._baseline(buffer):
        buffer = bytearray(-memoryview(buffer).cast("q")[0] * 8 + 1024)
    return buffer, counted


# ---- Allocator readings without a snapshot (the pytest marker) -----------------------------

def reading_buffers(n: int) -> List[bytearray]:
    """Buffers for n allocator readings, made before any of them: room for
    today's reading and a good margin (a reading that outgrows its buffer
    still happens, in a new one)."""
    room = len(_baseline()[0]) + 64 * 1024
    return [bytearray(room) for _ in range(n)]


def read_allocators(buffer: bytearray) -> bytearray:
    """The allocators read now into ``buffer``, which allocates nothing; a
    new buffer when it is too small."""
    return buffer if _memprobe._baseline(buffer) else _baseline()[0]


def readings_diff(before: bytearray, after: bytearray) -> SnapshotDiff:
    """The allocators' diff between two readings (no object counts)."""
    return _allocator_diff(describe(), _Allocators(before).parts(), _Allocators(after).parts(), None, None)


class _Allocators:
    """A snapshot's baseline reading, typed for diff()."""

    def __init__(self, buffer: bytearray) -> None:
        words = memoryview(buffer).cast("q")
        used, self.serial, blocks, pymalloc_words, mimalloc_words = words[:5]
        self.allocated_blocks: Optional[int] = blocks if blocks >= 0 else None
        at = 5 + max(pymalloc_words, 0)
        self.pymalloc: Optional[PymallocSnapshot] = None
        self.mimalloc: Optional[MimallocSnapshot] = None
        if pymalloc_words >= 0:
            self.pymalloc = _part((words[5:at].tolist(), None), self._pymalloc)[0]
        if mimalloc_words >= 0:
            rows = words[at:at + mimalloc_words].tolist()
            raw = (0, False, 0, 0, 0, [tuple(rows[i:i + 8]) for i in range(0, len(rows), 8)])
            self.mimalloc = _part((raw, None), mimalloc_from_reading)[0]

    def _pymalloc(self, words: List[int]) -> PymallocSnapshot:
        return pymalloc_from_reading(state_from_words(words, self.allocated_blocks))

    def parts(self) -> _Allocator:
        """(allocated blocks, pymalloc, mimalloc), as a diff takes them."""
        return self.allocated_blocks, self.pymalloc, self.mimalloc


def _start(before: Snapshot, after: Snapshot) -> _Allocator:
    """Where a diff's allocator numbers start: ``before`` as read, or, when
    ``before`` was taken in this process ahead of ``after``, its baseline
    (the moment after it was built), so its own blocks are not growth."""
    reading = _baseline_before(before, after)
    if reading is not None and (reading.pymalloc is None) == (before.pymalloc is None) \
            and (reading.mimalloc is None) == (before.mimalloc is None):
        return reading.parts()
    return before.allocated_blocks, before.pymalloc, before.mimalloc


def _baseline_before(before: Snapshot, after: Snapshot) -> Optional["_Allocators"]:
    """before's baseline reading, when before was taken in this process
    ahead of after."""
    baseline: Optional[bytearray] = getattr(before, "_baseline", None)
    after_serial: Optional[int] = getattr(after, "_serial", None)
    if baseline is None or after_serial is None:
        return None
    reading = _Allocators(baseline)
    return reading if reading.serial < after_serial else None


def _block_start(before: Snapshot, after: Snapshot) -> Optional[Tuple[Dict[str, int], Dict[str, int]]]:
    """Where a diff's objects in blocks start: (blocks, bytes) by type name,
    from before's block baseline (read just ahead of its allocator
    baseline) as _start decides, else as before counted them; None when
    before did not count them."""
    if before.blocks_by_type is None or before.block_bytes_by_type is None:
        return None
    counted: Optional[bytearray] = getattr(before, "_block_baseline", None)
    names: Optional[Tuple[str, ...]] = getattr(before, "_block_names", None)
    if counted is None or names is None or _baseline_before(before, after) is None:
        return before.blocks_by_type, before.block_bytes_by_type
    words = memoryview(counted).cast("q")     # used, then (blocks, bytes) per name
    return (_added_up(zip(names, words[1::2].tolist())),
            _added_up(zip(names, words[2::2].tolist())))


# Before 3.14 the with statement binds __enter__ and __exit__ (two method
# objects) and holds both while __enter__ runs; 3.14's LOAD_SPECIAL binds
# neither.  measure() reads while the same objects are alive before and
# after the block.
_WITH_BINDS_METHODS = sys.version_info < (3, 14)


class measure:
    """Snapshots before and after a block (or each call of a function it
    decorates); ``diff`` is after minus before.

    >>> with measure() as m:
    ...     data = [[] for _ in range(1000)]
    >>> m.diff.objects_by_type["builtins.list"] >= 1000
    True

    With ``collect=True`` a full ``gc.collect()`` runs before each snapshot,
    so cyclic garbage does not show as growth; with ``blocks=True`` both
    snapshots count pymalloc's blocks by type (``snapshot(blocks=True)``),
    so strs and ints show too.  A block that allocates
    nothing shows no new objects and at most ``NOISE_BLOCKS`` blocks.  (In
    ``for ...: with measure() as m:`` the previous ``m`` is freed when the
    name is bound again, which is inside the new block: ``del m`` first.)
    """

    # No __dict__: a dict that starts holding a snapshot would itself be a
    # new tracked object in the after-census.
    __slots__ = ("collect", "blocks", "before", "after", "_diff")

    def __init__(self, collect: bool = False, blocks: bool = False) -> None:
        check_flag("collect", collect)
        check_flag("blocks", blocks)
        self.collect = collect
        self.blocks = blocks
        self.before: Optional[Snapshot] = None
        self.after: Optional[Snapshot] = None
        self._diff: Optional[SnapshotDiff] = None

    @property
    def diff(self) -> SnapshotDiff:
        if self._diff is None:
            raise MemprobeError("measure(): the block has not finished yet")
        return self._diff

    def __call__(self, func: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(func)
        def measured(*args: Any, **kwargs: Any) -> T:
            with self:
                return func(*args, **kwargs)
        return measured

    def __enter__(self) -> "measure":
        # A measure used again (a decorated function called twice) lets go
        # of its last snapshots first, not inside the block it measures.
        self.before = self.after = self._diff = None
        if self.collect:
            gc.collect()
        self.before = _take(True, False, collected=self.collect, blocks=self.blocks)
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        # The bound __enter__ the with statement held while __enter__ read
        # (made before the collection, as that one was).
        balance = self.__enter__ if _WITH_BINDS_METHODS else None
        if self.collect:
            gc.collect()
        self.after = snapshot(blocks=self.blocks)
        del balance
        assert self.before is not None
        self._diff = self.after - self.before
