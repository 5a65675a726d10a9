"""Result types of memprobe's probes, declared once.

Every result is a frozen dataclass with slots: fields are plain ints,
bools and strs, so results compare, hash and print predictably.  A field
that does not exist on the running interpreter's layout is ``None``.

Results are memprobe's own objects: census() leaves out every instance of
the types listed in ``OWN_TYPES`` (at the end of this file), so results
hold their rows in ``Rows`` and ``Table`` rather than in plain tuples and
dicts that could be tracked by the collector.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Any, Callable, Dict, ItemsView, Iterable, Iterator, Mapping, NamedTuple,
                    Optional, Tuple, Type, TypeVar)

from ._memprobe import GENERATION_CODES, MemprobeError, _maker, _set_own_types

C = TypeVar("C", bound=type)
R = TypeVar("R")

if TYPE_CHECKING:
    from dataclasses import dataclass as _result
else:
    def _result(frozen: bool = True) -> Callable[[C], C]:
        """``@dataclass(frozen=True)`` with ``__slots__`` (as
        ``slots=True`` does from 3.10): no ``__dict__`` per result.  Names
        in the class body's own ``__slots__`` are kept as extra, private
        slots, which copies and pickles leave out."""
        def make(cls: C) -> C:
            extra = tuple(cls.__dict__.get("__slots__", ()))
            fields = tuple(cls.__dict__.get("__annotations__", {}))
            namespace = {k: v for k, v in cls.__dict__.items()
                         if k not in extra and k not in ("__dict__", "__weakref__")}
            namespace["__slots__"] = fields + extra

            def __reduce__(self: Any) -> Tuple[type, Tuple[Any, ...]]:
                # Copied and pickled through __init__ (a frozen instance's
                # slots cannot be set one by one); private slots stay behind.
                return type(self), tuple(getattr(self, name) for name in fields)

            namespace["__reduce__"] = __reduce__
            slotted = type(cls)(cls.__name__, cls.__bases__, namespace)
            slotted.__qualname__ = cls.__qualname__
            # A _Short result keeps its one-line repr.
            return dataclass(frozen=frozen, repr=not issubclass(cls, _Short))(slotted)
        return make


class Rows(tuple):  # type: ignore[type-arg]
    """The tuple a result keeps its rows in: a tuple, but memprobe's own, so
    census() does not count it."""

    __slots__ = ()


class _Short:
    """Results whose field-by-field repr would be a wall of rows: repr() is
    one line, ``<Type summary>`` (``_render.summary``); print() shows the
    whole table."""

    __slots__ = ()

    def __repr__(self) -> str:
        from ._render import summary

        return f"<{type(self).__name__} {summary(self)}>"

    def __str__(self) -> str:
        from ._render import fields_text

        return fields_text(self)

    def _repr_html_(self) -> str:
        """The notebook view: tables (``_render.html_of``)."""
        from ._render import html_of

        return html_of(self)


class Table(dict):  # type: ignore[type-arg]
    """The dict a result keeps a mapping in (see ``Rows``)."""

    __slots__ = ()


def maker(cls: Type[R]) -> Tuple[Callable[..., R], Callable[[Tuple[Any, ...]], Tuple[R, ...]]]:
    """(new, rows) for cls, made in C without running ``__init__``
    (maker.c): ``new(*values)`` takes the values in field order, ``rows``
    a flat tuple of such values, one instance per len(fields).  For results
    built on every call of a probe, where a frozen dataclass's
    ``__init__`` would cost more than the probe."""
    if issubclass(cls, tuple):
        fields: Tuple[str, ...] = getattr(cls, "_fields")
    else:
        fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    return _maker(cls, fields)


class RefInfo(NamedTuple):
    """The reference count field of one object, decoded for this interpreter.

    ``count`` is what ``sys.getrefcount(obj)`` reports when called the same
    way.  ``layout`` names the field's shape:

    - ``"classic"`` (3.9-3.11): one ``Py_ssize_t``; ``word`` is it.
    - ``"split"`` (3.12, 3.13): ``word`` is the 64-bit field, ``low`` and
      ``high`` its 32-bit halves; immortal when ``low`` has bit 31 set.
    - ``"flags"`` (3.14+): ``low`` is the 32-bit ``ob_refcnt`` (the count),
      ``overflow`` and ``flags`` the two 16-bit fields beside it; immortal
      when ``low >= 2**31``; ``static_immortal`` when the statically
      allocated flag (4) is set in ``flags``.
    - ``"free-threaded"``: ``local`` (owner thread's count, ``ob_ref_local``),
      ``shared`` (``ob_ref_shared`` shifted right by 2, arithmetically: other
      threads' count, may be negative), ``shared_state`` (its two low bits:
      ``"shared"``, ``"maybe-weakref"``, ``"queued"`` or ``"merged"``),
      ``owner_tid`` (``ob_tid``: the owning thread, 0 when none) and
      ``deferred`` (the DEFERRED GC bit); immortal when
      ``local == 2**32 - 1``.  ``count == local + shared``.  On 3.14+ a
      deferred object's shared count carries ``deferred_bias``
      (``sys.maxsize // 8``) so that it survives until a collection;
      ``effective`` is ``count`` without it.  Another thread may change
      these fields while they are read: each is read with a relaxed atomic
      load, so the view is not one atomic snapshot of all of them.

    ``effective`` equals ``count`` everywhere except for such deferred
    objects; ``deferred_bias`` is ``None`` outside free-threaded builds.
    """

    count: int  # type: ignore[assignment]  # the reference count, not tuple.count
    effective: int
    immortal: bool
    static_immortal: bool
    layout: str
    word: Optional[int]
    low: Optional[int]
    high: Optional[int]
    overflow: Optional[int]
    flags: Optional[int]
    local: Optional[int]
    shared: Optional[int]
    shared_state: Optional[str]
    owner_tid: Optional[int]
    deferred: Optional[bool]
    deferred_bias: Optional[int]


@_result(frozen=True)
class PymallocConstants:
    """pymalloc's compiled constants.

    ``pool_overhead`` is the bytes each pool's header takes (POOL_OVERHEAD):
    a pool of class ``i`` holds ``(pool_size - pool_overhead) //
    ((i + 1) * alignment)`` blocks.

    ``verified`` is True when they were checked against the interpreter's own
    ``_PyObject_DebugMallocStats`` report at import (impossible while
    pymalloc is not the active allocator or hooks such as tracemalloc hide
    it).
    """

    arena_size: int
    pool_size: int
    alignment: int
    small_request_threshold: int
    size_classes: int
    pool_overhead: int
    verified: bool


@_result(frozen=True)
class Interpreter(_Short):
    """The running interpreter, as memprobe sees it.

    ``allocator`` is ``"pymalloc"``, ``"malloc"``, ``"mimalloc"``, one of
    their ``"_debug"`` forms, or ``"hooked"`` when hooks such as tracemalloc
    have replaced the allocator.  ``gc_regime`` is ``"generational"``,
    ``"incremental"`` (3.14.0-3.14.4) or ``"free-threaded"``, decided from
    the runtime version.  ``layout_problems`` maps each part whose
    import-time check failed (``"version"``, ``"refcount"``, ``"gc"``,
    ``"pymalloc"``) to the reason; probes needing that part raise
    ``UnsupportedInterpreter``.
    """

    version: Tuple[int, int, int]
    hexversion: int
    compiled_hexversion: int
    debug_build: bool
    free_threaded: bool
    gil_enabled: bool
    allocator: str
    gc_regime: str
    pymalloc: Optional[PymallocConstants]
    layout_problems: Dict[str, str]

    def __hash__(self) -> int:
        return hash((self.hexversion, self.compiled_hexversion, self.allocator))


class Generation(enum.IntEnum):
    """Where an object is in the cyclic garbage collector.

    ``GEN0``, ``GEN1`` and ``GEN2`` equal the ``gc`` module's generation
    numbers, so ``memprobe.generation(x) == 2`` reads naturally and
    ``gc.get_objects(generation=memprobe.generation(x))`` contains ``x``.
    ``PERMANENT`` (3) is the frozen generation of ``gc.freeze()``.

    The negative members are the states outside any generation list:
    ``IN_COLLECTION`` (a collection running now holds the object in one of
    its own temporary lists: asked from a finalizer, weakref callback or
    ``gc.callbacks``), ``UNTRACKED`` (a GC type the collector is not
    tracking, e.g. a tuple of atoms after a collection) and ``NOT_GC``
    (a type the collector never tracks: ints, strs, ...).

    On the incremental collector (3.14.0-3.14.4) tracked objects are
    ``YOUNG``, ``OLD_VISITED`` or ``OLD_PENDING``; on free-threaded builds,
    which have no generations, ``TRACKED`` or ``PERMANENT`` (frozen).
    """

    NOT_GC = GENERATION_CODES["NOT_GC"]
    UNTRACKED = GENERATION_CODES["UNTRACKED"]
    IN_COLLECTION = GENERATION_CODES["IN_COLLECTION"]
    GEN0 = GENERATION_CODES["GEN0"]
    GEN1 = GENERATION_CODES["GEN1"]
    GEN2 = GENERATION_CODES["GEN2"]
    PERMANENT = GENERATION_CODES["PERMANENT"]
    YOUNG = GENERATION_CODES["YOUNG"]
    OLD_VISITED = GENERATION_CODES["OLD_VISITED"]
    OLD_PENDING = GENERATION_CODES["OLD_PENDING"]
    TRACKED = GENERATION_CODES["TRACKED"]


@_result(frozen=True)
class GCInfo:
    """One object's facts in the collector.

    ``tracked`` agrees with ``gc.is_tracked``, ``finalized`` with
    ``gc.is_finalized``; ``frozen`` means ``generation`` is ``PERMANENT``.
    ``gc_bits`` is the raw ``ob_gc_bits`` byte on free-threaded builds and
    ``None`` elsewhere.
    """

    tracked: bool
    generation: Generation
    finalized: bool
    frozen: bool
    gc_bits: Optional[int]


@_result(frozen=True)
class GenerationState:
    """One generation: ``count`` and ``threshold`` as ``gc.get_count()`` and
    ``gc.get_threshold()`` report them, and ``length``, the number of objects
    in its list, found by walking it (``None`` where there is no list)."""

    generation: int
    count: int
    threshold: int
    length: Optional[int]


@_result(frozen=True)
class GCState(_Short):
    """One snapshot of the calling interpreter's collector.

    ``long_lived_total``/``long_lived_pending`` are the collector's own
    counters of objects that survived full / non-full collections;
    ``heap_size`` (3.14+) its estimate of tracked objects.
    """

    regime: str
    enabled: bool
    collecting: bool
    generations: Tuple[GenerationState, GenerationState, GenerationState]
    permanent_length: Optional[int]
    long_lived_total: int
    long_lived_pending: int
    heap_size: Optional[int]

    def __str__(self) -> str:
        from ._render import gc_state_text

        return gc_state_text(self)


class TypeCounts(Mapping[type, int]):
    """Object counts per type, most common first: a read-only mapping that
    finds a type by identity, so no type's own ``__hash__``/``__eq__`` (a
    metaclass's) runs to build it or to look a type up in it."""

    __slots__ = ("_types", "_counts", "_by_id", "_unranked")

    def __init__(self, items: Iterable[Tuple[type, int]] = ()) -> None:
        pairs = tuple(items)
        self._types = Rows(t for t, _ in pairs)
        self._counts = Rows(n for _, n in pairs)
        self._by_id: Optional[Dict[int, int]] = None   # id -> index, built on the first lookup
        self._unranked: Optional[Tuple[Tuple[type, ...], Tuple[int, ...], Optional[int]]] = None

    @classmethod
    def ranked(cls, types: Tuple[type, ...], counts: Tuple[int, ...], top: Optional[int] = None) -> "TypeCounts":
        """The types with a count above 0, most common first (the first N
        with ``top=N``), ranked when first read: a probe that returns
        several of these pays only for the ones its caller looks at.
        Ranked on (count, index) tuples: types are never hashed or
        compared (a metaclass's ``__hash__`` or ``__eq__`` would run), and
        no ``key=`` (CPython 3.12.1 crashes when an allocation fails inside
        ``list.sort(key=...)``)."""
        made = cls.__new__(cls)
        made._by_id = None
        made._unranked = Rows((types, counts, top))   # memprobe's own (see Rows)
        return made

    def _pairs(self) -> Tuple[Tuple[type, ...], Tuple[int, ...]]:
        if self._unranked is not None:
            types, counts, top = self._unranked
            order = sorted((-n, i) for i, n in enumerate(counts) if n > 0)
            if top is not None:
                order = order[:top]
            self._types = Rows(types[i] for _, i in order)
            self._counts = Rows(-n for n, _ in order)
            self._unranked = None
        return self._types, self._counts

    def __getitem__(self, key: type) -> int:
        types, counts = self._pairs()
        if self._by_id is None:
            self._by_id = {id(t): i for i, t in enumerate(types)}
        i = self._by_id.get(id(key))
        if i is None or types[i] is not key:
            raise KeyError(key)
        return int(counts[i])

    def items(self) -> "ItemsView[type, int]":
        return _TypeCountsItems(self)

    def __iter__(self) -> Iterator[type]:
        return iter(self._pairs()[0])

    def __len__(self) -> int:
        return len(self._pairs()[0])

    def __reduce__(self) -> Tuple[type, Tuple[Tuple[Tuple[type, int], ...]]]:
        return TypeCounts, (tuple(zip(*self._pairs())),)

    def __eq__(self, other: object) -> bool:
        """Equal to a mapping with the same counts for the same types, found
        by identity (Mapping's own __eq__ would hash the types)."""
        if not isinstance(other, Mapping):
            return NotImplemented
        if len(self) != len(other):
            return False
        missing = object()
        return all(self.get(t, missing) == n for t, n in other.items())

    __hash__ = None  # type: ignore[assignment]  # a mapping

    def __repr__(self) -> str:
        from ._serialize import type_name

        shown = [f"{type_name(t)}: {n}" for t, n in list(self.items())[:5]]
        more = len(self) - len(shown)
        return "TypeCounts({" + ", ".join(shown) + (f", ... {more:,} more" if more > 0 else "") + "})"


class _TypeCountsItems(ItemsView[type, int]):
    """items() straight from the stored pairs (no lookup per type)."""

    _mapping: TypeCounts

    def __iter__(self) -> Iterator[Tuple[type, int]]:
        return zip(*self._mapping._pairs())


@_result(frozen=True)
class Census(_Short):
    """Tracked objects counted per type, without listing them.

    ``by_type`` covers ``generation`` (or, for ``None``, generations 0-2,
    which is what ``gc.get_objects()`` covers), most common type first.
    ``by_generation`` gives each generation's total (including
    ``PERMANENT`` when ``generation`` is ``None``) and ``per_generation``
    its own ``{type: count}``; both are ``TypeCounts``, keyed by identity.
    With ``top=N`` each mapping keeps the N most common types.  ``collecting`` is True when a collection was running:
    objects in its temporary lists are then not counted.

    memprobe's own results (instances of its result types, which also hold
    their rows in them) are left out of every count, so that reading does
    not show up in what is read; ``memprobe_objects`` says how many were
    left out of each generation: ``by_generation[g] + memprobe_objects[g]``
    is the list's length.
    """

    generation: Optional[Generation]
    by_type: TypeCounts
    by_generation: Dict[Generation, int]
    per_generation: Dict[Generation, TypeCounts]
    memprobe_objects: Dict[Generation, int]
    collecting: bool

    @property
    def total(self) -> int:
        """Objects counted in ``by_type``'s scope."""
        if self.generation is None:
            return sum(n for g, n in self.by_generation.items() if g != Generation.PERMANENT)
        return self.by_generation[self.generation]

    def __hash__(self) -> int:
        return hash((self.generation, self.total, self.collecting))

    def __str__(self) -> str:
        from ._render import census_text

        return census_text(self)


class SizeClass(NamedTuple):
    """One pymalloc size class: blocks of ``block_size`` bytes served from
    ``pools`` pools, ``blocks_in_use`` of them allocated and ``blocks_free``
    still available in those pools.  Only classes with pools are listed.
    (A NamedTuple: snapshots hold dozens, built on every call.)"""

    class_index: int
    block_size: int
    pools: int
    blocks_in_use: int
    blocks_free: int

    @property
    def bytes_in_use(self) -> int:
        """Bytes in the blocks in use."""
        return self.blocks_in_use * self.block_size

    @property
    def bytes_free(self) -> int:
        """Bytes in the free blocks of the class's pools."""
        return self.blocks_free * self.block_size


@_result(frozen=True)
class PymallocSnapshot(_Short):
    """The calling interpreter's pymalloc state at one moment.

    ``source`` is ``"obmalloc-state"`` (3.12+: read from the interpreter's
    allocator state) or ``"debug-malloc-stats"`` (3.9-3.11: parsed from
    ``_PyObject_DebugMallocStats`` captured in memory).  ``hooks_installed``
    is True when hooks such as tracemalloc wrap the allocator (pymalloc
    still serves the blocks underneath).  ``debug_layer`` is True when the
    pymalloc_debug layer is active: every block then carries 24 extra bytes
    of debug data, which the sizes and counts include.

    ``raw_allocated_blocks`` counts requests over the small-request
    threshold that pymalloc passed to the raw allocator; ``blocks_in_use +
    raw_allocated_blocks`` is what ``sys.getallocatedblocks()`` reports.
    The ``bytes_*`` fields and ``total_bytes`` are the byte accounting of
    ``sys._debugmallocstats()``.
    """

    source: str
    allocator: str
    hooks_installed: bool
    debug_layer: bool
    arena_size: int
    pool_size: int
    alignment: int
    small_request_threshold: int
    arenas_allocated_total: int
    arenas_reclaimed: int
    arenas_highwater: int
    arenas_current: int
    raw_allocated_blocks: int
    size_classes: Tuple[SizeClass, ...]
    unused_pools: int
    bytes_in_allocated_blocks: int
    bytes_in_available_blocks: int
    bytes_in_unused_pools: int
    bytes_lost_to_pool_headers: int
    bytes_lost_to_quantization: int
    bytes_lost_to_arena_alignment: int
    total_bytes: int

    @property
    def blocks_in_use(self) -> int:
        """Blocks allocated from pymalloc's pools, over every size class."""
        return sum(c.blocks_in_use for c in self.size_classes)

    @property
    def arena_bytes(self) -> int:
        """What pymalloc's arenas hold from the system."""
        return self.arenas_current * self.arena_size

    @property
    def live_fraction(self) -> Optional[float]:
        """Bytes in allocated blocks over arena bytes; None without arenas."""
        return self.bytes_in_allocated_blocks / self.arena_bytes if self.arenas_current else None

    @property
    def allocated_blocks(self) -> int:
        """What ``sys.getallocatedblocks()`` reports for the same moment."""
        return self.blocks_in_use + self.raw_allocated_blocks

    def size_class(self, index: int) -> SizeClass:
        """The class with this index (zeros when it has no pools)."""
        for c in self.size_classes:
            if c.class_index == index:
                return c
        return SizeClass(index, (index + 1) * self.alignment, 0, 0, 0)

    def __str__(self) -> str:
        from ._render import pymalloc_text

        return pymalloc_text(self)


class ArenaSizeClass(NamedTuple):
    """Pools and blocks in use of one size class inside one arena."""

    class_index: int
    block_size: int
    pools: int
    blocks_in_use: int


class PoolInfo(NamedTuple):
    """One pool slot of an arena, in address order: ``class_index`` -1 is a
    pool that holds nothing (free, or not carved out of the arena yet)."""

    class_index: int
    blocks_in_use: int
    capacity: int

    @property
    def fill(self) -> float:
        """Fraction of the pool's blocks in use (0.0 for an empty pool)."""
        return self.blocks_in_use / self.capacity if self.capacity else 0.0


@_result(frozen=True)
class ArenaInfo(_Short):
    """One live pymalloc arena: ``total_pools`` pools of which
    ``free_pools`` hold nothing (including pools not carved yet).

    Stored compactly, four objects per arena, so that reading the arenas
    does not fill the holes it measures: ``pool_classes`` has a byte per
    carved pool slot in address order (its size class, 255 for a free
    pool), ``pool_blocks`` two (its blocks in use, little-endian).
    ``pools`` (every slot, not-yet-carved ones included) and
    ``size_classes`` are built from them when asked for.
    ``resident_pages`` is how many of the arena's pages are in memory
    (``mincore``; None where that cannot be known), ``resident_bytes``
    the same in bytes.
    """

    address: int
    total_pools: int
    free_pools: int
    pool_classes: bytes
    pool_blocks: bytes
    resident_pages: Optional[int]

    @property
    def resident_bytes(self) -> Optional[int]:
        """Bytes of the arena in memory (``resident_pages`` pages)."""
        import mmap

        return None if self.resident_pages is None else self.resident_pages * mmap.PAGESIZE

    @property
    def pools(self) -> Tuple[PoolInfo, ...]:
        """Every pool slot in address order."""
        from ._interpreter import pool_capacity

        carved = [PoolInfo(-1, 0, 0) if c == 255 else
                  PoolInfo(c, self.pool_blocks[2 * j] | self.pool_blocks[2 * j + 1] << 8, pool_capacity(c))
                  for j, c in enumerate(self.pool_classes)]
        return tuple(carved) + (PoolInfo(-1, 0, 0),) * (self.total_pools - len(carved))

    @property
    def size_classes(self) -> Tuple[ArenaSizeClass, ...]:
        """Pools and blocks in use per size class, by class index."""
        from ._interpreter import block_size

        per_class: Dict[int, Tuple[int, int]] = {}
        for pool in self.pools:
            if pool.class_index >= 0:
                n, used = per_class.get(pool.class_index, (0, 0))
                per_class[pool.class_index] = (n + 1, used + pool.blocks_in_use)
        return tuple(ArenaSizeClass(i, block_size(i), n, used) for i, (n, used) in sorted(per_class.items()))

    @property
    def used_pools(self) -> int:
        return sum(1 for c in self.pool_classes if c != 255)

    @property
    def blocks_in_use(self) -> int:
        blocks = self.pool_blocks
        return sum(blocks[i] | blocks[i + 1] << 8 for i in range(0, len(blocks), 2))


class ArenaMap(Tuple[ArenaInfo, ...]):
    """The live arenas returned by ``arenas()``: a tuple of ``ArenaInfo``
    that also draws itself (``to_svg()``, and ``_repr_svg_`` for notebooks)."""

    def __repr__(self) -> str:
        return (f"<ArenaMap {len(self):,} arenas, {self.used_pools:,} of {self.total_pools:,} pools "
                "in use; to_svg() draws them>")

    def to_svg(self, title: Optional[str] = None, colour: str = "fill",
               before: Optional["ArenaMap"] = None) -> str:
        """An SVG picture: one cell per pool, one row per arena (its place
        in the map and its address), with a legend of totals.
        ``colour="fill"`` colours a pool by how full it is (red: nearly
        empty, dark green: full); ``colour="type"`` by the type most of its
        objects have (the block census, read when drawing: 3.12+);
        ``colour="size"`` by its size class.  Free pools and slots not
        carved yet are two greys.  With ``before``, an earlier map, the
        pools that changed since are outlined."""
        from ._svg import arena_map_svg

        if title is not None and not isinstance(title, str):
            raise TypeError(f"title must be a str or None, not {type(title).__name__}")
        if not isinstance(colour, str):
            raise TypeError(f"colour must be a str, not {type(colour).__name__}")
        if colour not in ("fill", "type", "size"):
            raise ValueError(f"colour must be 'fill', 'type' or 'size', not {colour!r}")
        if before is not None and not isinstance(before, ArenaMap):
            raise TypeError(f"before must be an ArenaMap or None, not {type(before).__name__}")
        return arena_map_svg(self, title, colour, before)

    def _repr_svg_(self) -> str:
        return self.to_svg()

    @property
    def total_pools(self) -> int:
        return sum(a.total_pools for a in self)

    @property
    def used_pools(self) -> int:
        return sum(a.used_pools for a in self)

    @property
    def blocks_in_use(self) -> int:
        return sum(a.blocks_in_use for a in self)


@_result(frozen=True)
class BlockInfo:
    """Where one object's memory block sits in pymalloc.

    The block starts ``preheader + debug_padding`` bytes before the object:
    ``preheader`` is the GC head and managed dict/weakref pointers,
    ``debug_padding`` the bytes of the pymalloc_debug layer's front words
    (0 without that layer), read from the block itself.  ``getsizeof`` is
    ``sys.getsizeof(obj)``, or ``None`` when the object's ``__sizeof__``
    fails.  When
    ``pymalloc`` is False (static objects, requests over the threshold,
    other allocators) the arena fields and ``debug_padding`` are ``None``.
    """

    pymalloc: bool
    getsizeof: Optional[int]
    preheader: int
    debug_padding: Optional[int]
    arena: Optional[int]
    arena_index: Optional[int]
    pool: Optional[int]
    size_class: Optional[int]
    block_size: Optional[int]


class MimallocSizeClass(NamedTuple):
    """The pages of one mimalloc heap kind that serve one block size.

    ``heap`` is ``"mem"`` (PyMem_Malloc), ``"object"`` (non-GC objects),
    ``"gc"`` (GC objects), ``"gc_pre"`` (GC objects with a managed
    dict/weakref pre-header) on free-threaded builds, and ``"default"`` on a
    default build run with ``PYTHONMALLOC=mimalloc``.  ``blocks_in_use``
    excludes ``blocks_pending`` (blocks other threads freed that the owner
    has not taken back yet); ``blocks_free`` are committed blocks not in
    use.  ``bytes_reserved``/``bytes_committed`` are the pages' reserved and
    committed block space, as mimalloc's heap areas count them.
    ``abandoned_pages`` of ``pages`` belong to threads that have exited.
    """

    heap: str
    block_size: int
    pages: int
    blocks_in_use: int
    blocks_pending: int
    blocks_free: int
    bytes_reserved: int
    bytes_committed: int
    abandoned_pages: int


@_result(frozen=True)
class MimallocSnapshot(_Short):
    """mimalloc's heaps at one moment, per heap kind and block size.

    ``scope`` is ``"all-threads"`` on free-threaded builds (every thread's
    heaps, read with the other threads paused, plus the abandoned pool when
    ``abandoned_pool`` is True) or ``"current-thread"`` on default builds
    (mimalloc keeps no list of other threads' heaps there, and neither
    ``sys.getallocatedblocks()`` nor ``sys._debugmallocstats()`` count them).
    ``small_max``/``medium_max``/``large_max`` are mimalloc's block size
    limits of small, medium and large pages.
    """

    allocator: str
    scope: str
    threads: int
    abandoned_pool: bool
    small_max: int
    medium_max: int
    large_max: int
    size_classes: Tuple[MimallocSizeClass, ...]

    @property
    def blocks_in_use(self) -> int:
        """Blocks allocated now; what ``sys.getallocatedblocks()`` counts."""
        return sum(c.blocks_in_use for c in self.size_classes)

    @property
    def pages(self) -> int:
        return sum(c.pages for c in self.size_classes)

    @property
    def bytes_reserved(self) -> int:
        return sum(c.bytes_reserved for c in self.size_classes)

    @property
    def bytes_committed(self) -> int:
        return sum(c.bytes_committed for c in self.size_classes)

    @property
    def bytes_in_use(self) -> int:
        return sum(c.blocks_in_use * c.block_size for c in self.size_classes)

    def heap(self, name: str) -> Tuple[MimallocSizeClass, ...]:
        """The size classes of one heap kind."""
        return tuple(c for c in self.size_classes if c.heap == name)

    def size_class(self, heap: str, block_size: int) -> MimallocSizeClass:
        """One heap kind's class of this block size (zeros when absent)."""
        for c in self.size_classes:
            if (c.heap, c.block_size) == (heap, block_size):
                return c
        return MimallocSizeClass(heap, block_size, 0, 0, 0, 0, 0, 0, 0)

    def __str__(self) -> str:
        from ._render import mimalloc_text

        return mimalloc_text(self)


# ---- Snapshots and diffs --------------------------------------------------------


class SnapshotMismatch(MemprobeError, ValueError):
    """Two snapshots from different interpreters cannot be compared."""


D = TypeVar("D", bound="_Document")


class _Printed(_Short):
    """Results printed as a table and written as JSON: ``to_dict()`` (a
    plain, JSON-compatible dict), ``to_json()``, and the notebook view."""

    __slots__ = ()

    def to_dict(self) -> Dict[str, Any]:
        from ._serialize import to_dict

        return to_dict(self)

    def to_json(self) -> str:
        from ._serialize import to_json

        return to_json(self)


class _Document(_Printed):
    """Results that can also be read back: ``from_dict()``/``from_json()``
    (ValueError when malformed)."""

    __slots__ = ()

    @classmethod
    def from_dict(cls: Type[D], data: Mapping[str, Any]) -> D:
        from ._serialize import from_dict

        return from_dict(cls, data)

    @classmethod
    def from_json(cls: Type[D], text: str) -> D:
        from ._serialize import from_json

        return from_json(cls, text)


class OccupancyBucket(NamedTuple):
    """Arenas whose live blocks fill more than ``low`` and at most ``high``
    of their bytes (fractions; the first bucket includes 0)."""

    low: float
    high: float
    arenas: int
    arena_bytes: int
    live_bytes: int


class SparseArena(NamedTuple):
    """One of the arenas that hold the least: what pins it."""

    address: int
    live_blocks: int
    live_bytes: int
    used_pools: int

    @property
    def fill(self) -> float:
        """Live bytes over the arena's bytes."""
        from ._interpreter import required_constants

        return self.live_bytes / required_constants().arena_size


@_result(frozen=True)
class Fragmentation(_Printed):
    """How much of the memory pymalloc holds is live blocks (3.12+).

    ``arena_bytes`` is what the arenas hold from the system; of it,
    ``live_bytes`` are blocks in use, ``free_block_bytes`` free blocks
    inside pools in use, ``empty_pool_bytes`` pools that hold nothing, and
    ``overhead_bytes`` pool headers, the rounding of each pool to whole
    blocks and arena alignment.  ``occupancy`` is the histogram of arenas
    by the fraction of their bytes in live blocks; ``returnable_bytes`` the
    bytes of arenas at most 1 % live, which pymalloc could give back if
    those few blocks moved; ``sparsest`` the arenas that hold the least,
    with what pins them.  ``verdict`` says it in words.
    """

    arenas: int
    arena_bytes: int
    live_bytes: int
    free_block_bytes: int
    empty_pool_bytes: int
    overhead_bytes: int
    returnable_arenas: int
    returnable_bytes: int
    occupancy: Tuple[OccupancyBucket, ...]
    sparsest: Tuple[SparseArena, ...]
    verdict: str

    @property
    def live_fraction(self) -> Optional[float]:
        """Live bytes over arena bytes; None without arenas."""
        return self.live_bytes / self.arena_bytes if self.arena_bytes else None

    def __str__(self) -> str:
        from ._render import fragmentation_text

        return fragmentation_text(self)


class ArenaHolders(NamedTuple):
    """One arena and the objects in its blocks, by type (``holders``,
    most blocks first): what keeps it from being given back."""

    address: int
    object_blocks: int
    holders: "TypeCounts"


@_result(frozen=True)
class BlockCensus(_Printed):
    """The allocator's in-use blocks counted by the type of the object each
    one holds, GC-tracked or not: pymalloc's (3.12+) or, where mimalloc
    serves objects (free-threaded builds, ``PYTHONMALLOC=mimalloc``, 3.13+
    with a call to pause other threads), mimalloc's (``allocator`` says
    which).  ``blocks``, ``bytes`` (block sizes) and ``arenas_touched``
    (how many arenas a type's blocks are spread over) per type, each a
    ``TypeCounts`` ranked by its own numbers; per arena, the types holding
    it (``arenas``, in address order; ``holders(address)`` looks one up).
    Under mimalloc an "arena" is a mimalloc segment and a "pool" a page.

    A block holds an object when the word where its type would be is a
    live type known to memprobe (every type of a tracked object and their
    bases, and the builtin types of untracked objects) whose pre-header and
    size fit the block; the rest, ``other_blocks``/``other_bytes``, are
    dict keys tables, list item arrays, interpreter internals and instances
    of types memprobe does not know: counted, not guessed at.  Blocks
    holding memprobe's own results are counted apart (``memprobe_blocks``),
    and pools whose free lists could not be followed (a concurrent change,
    or corruption) are not read (``unreadable_pools``).  Objects over 512
    bytes are not in pymalloc's blocks: ``pymalloc().raw_allocated_blocks``
    counts them (mimalloc serves every size, so its census has them).
    """

    blocks: "TypeCounts"
    bytes: "TypeCounts"
    arenas_touched: "TypeCounts"
    arenas: Tuple[ArenaHolders, ...]
    other_blocks: int
    other_bytes: int
    memprobe_blocks: int
    memprobe_bytes: int
    unreadable_pools: int
    allocator: str

    def holders(self, address: int) -> "TypeCounts":
        """The types whose objects are in the arena at ``address``, most
        blocks first (empty when no object is there)."""
        for arena in self.arenas:
            if arena.address == address:
                return arena.holders
        return TypeCounts()

    def __str__(self) -> str:
        from ._render import block_census_text

        return block_census_text(self)


@_result(frozen=True)
class ResidentMemory(_Printed):
    """The process's resident memory split by who holds it (``rss()``).

    ``total`` is the resident set size.  Of it: ``pymalloc_resident`` bytes
    of pymalloc's arenas are in memory (``mincore``; ``pymalloc_arenas``
    is all they hold and ``pymalloc_live`` their bytes in live blocks);
    ``mimalloc_committed`` what mimalloc has committed; and glibc's malloc
    (``mallinfo2``) holds ``malloc_heap`` bytes in its heaps, of which
    ``malloc_in_use`` are in use and ``malloc_free`` free, plus
    ``malloc_mmapped`` in blocks mapped on their own;
    ``malloc_releasable`` is free at the top of its main heap.  ``other``
    is the rest: interpreter and extension code, stacks, other mappings
    (malloc's heap counted as resident).  Every part that cannot be known
    here is None, and ``unknown`` says why; ``verdict`` says which part
    dominates and what it means.
    """

    total: Optional[int]
    pymalloc_arenas: Optional[int]
    pymalloc_resident: Optional[int]
    pymalloc_live: Optional[int]
    mimalloc_committed: Optional[int]
    malloc_heap: Optional[int]
    malloc_in_use: Optional[int]
    malloc_free: Optional[int]
    malloc_mmapped: Optional[int]
    malloc_releasable: Optional[int]
    other: Optional[int]
    unknown: Tuple[str, ...]
    verdict: str

    def __str__(self) -> str:
        from ._render import resident_text

        return resident_text(self)


@_result(frozen=True)
class Snapshot(_Document):
    """Allocator and collector state at one moment (see ``snapshot()``).

    ``allocated_blocks`` is what ``sys.getallocatedblocks()`` reports, or
    ``None`` where it counts nothing: it counts pymalloc's blocks, or
    mimalloc's from 3.13, and reports 0 under any other allocator
    (``PYTHONMALLOC=malloc``, tracemalloc's hooks over mimalloc).
    ``pymalloc`` is ``None`` when pymalloc does not serve allocations, with
    ``pymalloc_unavailable`` saying why; ``mimalloc`` likewise for mimalloc
    (free-threaded builds, ``PYTHONMALLOC=mimalloc``).  ``objects_by_type``
    counts tracked objects in generations 0-2 (free-threaded: every tracked
    object not frozen) by ``module.qualname``; ``objects_by_generation`` has
    keys ``"0"``, ``"1"``, ``"2"`` and, when it was counted (asked for, or
    empty), ``"permanent"`` (free-threaded: ``"tracked"``).  Both are None
    for ``snapshot(census=False)``.  Subtracting two snapshots gives a
    ``SnapshotDiff``.

    ``blocks_by_type`` and ``block_bytes_by_type`` count objects in
    pymalloc's blocks by type, tracked by the collector or not (strs, ints,
    floats...), with ``snapshot(blocks=True)`` on 3.12+ (see
    ``block_census()``); None otherwise, with ``blocks_unavailable`` saying
    why when they were asked for.

    A snapshot taken by ``snapshot()`` also keeps, privately, the
    allocators (and, with ``blocks=True``, the blocks by type) as they were
    once it was built: a later snapshot's diff against it starts from
    there, so the snapshot's own blocks are not counted as growth.
    Snapshots read back from JSON have no such reading.
    """

    __slots__ = ("_serial", "_baseline", "_block_baseline", "_block_types", "_block_names")
    interpreter: str
    hexversion: int
    debug_build: bool
    free_threaded: bool
    allocated_blocks: Optional[int]
    pymalloc: Optional[PymallocSnapshot]
    pymalloc_unavailable: Optional[str]
    mimalloc: Optional[MimallocSnapshot]
    mimalloc_unavailable: Optional[str]
    gc: GCState
    objects_by_generation: Optional[Dict[str, int]]
    objects_by_type: Optional[Dict[str, int]]
    blocks_by_type: Optional[Dict[str, int]]
    block_bytes_by_type: Optional[Dict[str, int]]
    blocks_unavailable: Optional[str]

    def __hash__(self) -> int:
        return hash((self.interpreter, self.allocated_blocks))

    def __sub__(self, before: "Snapshot") -> "SnapshotDiff":
        if not isinstance(before, Snapshot):
            return NotImplemented
        return SnapshotDiff.between(before, self)

    def __str__(self) -> str:
        from ._render import snapshot_text

        return snapshot_text(self)


class SizeClassDelta(NamedTuple):
    """Change in one pymalloc size class between two snapshots."""

    class_index: int
    block_size: int
    pools: int
    blocks_in_use: int

    @property
    def bytes_in_use(self) -> int:
        """The change in bytes in blocks in use."""
        return self.blocks_in_use * self.block_size


class MimallocClassDelta(NamedTuple):
    """Change in one mimalloc heap kind's block size between two snapshots."""

    heap: str
    block_size: int
    pages: int
    blocks_in_use: int

    @property
    def bytes_in_use(self) -> int:
        """The change in bytes in blocks in use."""
        return self.blocks_in_use * self.block_size


@_result(frozen=True)
class SnapshotDiff(_Document):
    """What changed between two snapshots (``after - before``).

    Every field is after minus before; a pymalloc or mimalloc field is
    ``None`` when that allocator was not readable in both snapshots (not
    known is not zero), and ``allocated_blocks`` is ``None`` when either
    snapshot's is.  ``arenas_allocated`` and
    ``arenas_freed`` count arenas pymalloc obtained and released in between;
    ``size_classes`` and ``objects_by_type`` list only what changed, largest
    change first; so do ``blocks_by_type`` and ``block_bytes_by_type``
    (objects in pymalloc's blocks, tracked or not), None unless both
    snapshots counted them (``snapshot(blocks=True)``).  ``arena_bytes``,
    ``free_block_bytes`` (free blocks inside pools in use) and
    ``empty_pool_bytes`` change as pymalloc's fragmentation does.  The
    before-snapshot's own objects are left out (see ``Snapshot``): a diff
    around a block that allocates nothing shows no new objects and at most
    ``NOISE_BLOCKS`` blocks.
    """

    interpreter: str
    pymalloc_available: bool
    allocated_blocks: Optional[int]
    blocks_in_use: Optional[int]
    raw_allocated_blocks: Optional[int]
    arenas_allocated: Optional[int]
    arenas_freed: Optional[int]
    arenas_current: Optional[int]
    arenas_highwater: Optional[int]
    size_classes: Tuple[SizeClassDelta, ...]
    mimalloc_available: bool
    mimalloc_blocks_in_use: Optional[int]
    mimalloc_pages: Optional[int]
    mimalloc_classes: Tuple[MimallocClassDelta, ...]
    objects_by_generation: Optional[Dict[str, int]]
    objects_by_type: Optional[Dict[str, int]]
    blocks_by_type: Optional[Dict[str, int]]
    block_bytes_by_type: Optional[Dict[str, int]]
    arena_bytes: Optional[int]
    free_block_bytes: Optional[int]
    empty_pool_bytes: Optional[int]

    def __hash__(self) -> int:
        return hash((self.interpreter, self.allocated_blocks))

    @property
    def bytes_in_use(self) -> Optional[int]:
        """The change in bytes in pymalloc's blocks in use (None when
        pymalloc was not readable in both snapshots)."""
        if not self.pymalloc_available:
            return None
        return sum(d.bytes_in_use for d in self.size_classes)

    @property
    def mimalloc_bytes_in_use(self) -> Optional[int]:
        """The change in bytes in mimalloc's blocks in use (or None)."""
        if not self.mimalloc_available:
            return None
        return sum(d.bytes_in_use for d in self.mimalloc_classes)

    @classmethod
    def between(cls, before: Snapshot, after: Snapshot) -> "SnapshotDiff":
        """``after - before``; SnapshotMismatch for different interpreters."""
        from ._snapshot import diff

        return diff(before, after)

    def __str__(self) -> str:
        from ._render import diff_text

        return diff_text(self)


# ---- Teaching ----------------------------------------------------------------------


@_result(frozen=True)
class LessonResult(_Short):
    """One classic claim checked on the running interpreter: what it
    predicts (``expected``), what was ``measured``, and whether it ``holds``
    here, with the reason (``why``)."""

    name: str
    claim: str
    expected: str
    measured: str
    holds: bool
    why: str

    def __str__(self) -> str:
        from ._render import lesson_text

        return lesson_text(self)


@_result(frozen=True)
class Report(_Printed):
    """Everything ``python -m memprobe`` shows: the interpreter, each
    allocator's snapshot (or why it is unavailable), the collector's state
    and its three most common types per generation, pymalloc's
    fragmentation (3.12+; None where the arenas cannot be walked), where
    the process's resident memory is (``rss()``), and what
    ``memprobe.refcount`` and ``sys.getrefcount`` read for a fresh object
    held by one name."""

    interpreter: Interpreter
    pymalloc: Optional[PymallocSnapshot]
    pymalloc_unavailable: Optional[str]
    mimalloc: Optional[MimallocSnapshot]
    mimalloc_unavailable: Optional[str]
    gc: Optional[GCState]
    gc_unavailable: Optional[str]
    top_types: Optional[Census]
    fragmentation: Optional[Fragmentation]
    resident: ResidentMemory
    fresh_object_refcounts: Tuple[int, int]

    def __hash__(self) -> int:
        return hash(self.interpreter)

    def __str__(self) -> str:
        from ._render import report_text

        return report_text(self)


@_result(frozen=True)
class Explanation(_Printed):
    """``explain(obj)``: one object's memory facts, and the story they tell.

    The facts are what memprobe read: the object's type (``type_name``),
    address, ``sys.getsizeof`` (None when its ``__sizeof__`` fails), its
    reference count (``refinfo()``), its place in the collector
    (``gcinfo()``) and its memory block (``block_info()``, pymalloc only);
    each is None where it cannot be read here, with the reason in
    ``unavailable``.  ``str()`` is the story in plain English, one line a
    fact (``lines``); the explanation keeps no reference to the object.
    """

    type_name: str
    address: int
    getsizeof: Optional[int]
    refinfo: Optional[RefInfo]
    gcinfo: Optional[GCInfo]
    block: Optional[BlockInfo]
    unavailable: Tuple[str, ...]
    lines: Tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return f"<Explanation of a {self.type_name} at {self.address:#x}: {len(self.lines)} lines; print() it>"


class Collection(NamedTuple):
    """One collection a timeline saw: its generation, when it began
    (seconds since the timeline began) and how long it took, what it
    collected, ``gc.get_count()`` before and after, and (``lengths=True``)
    the lengths of generations 0-2 and the permanent list before and
    after (None when not read)."""

    generation: int
    start: float
    duration: float
    collected: int
    uncollectable: int
    counts_before: Tuple[int, ...]
    counts_after: Tuple[int, ...]
    lengths_before: Optional[Tuple[int, ...]]
    lengths_after: Optional[Tuple[int, ...]]


@_result(frozen=True)
class Timeline(_Printed):
    """Every collection run inside ``with memprobe.timeline():`` (or
    ``python -m memprobe timeline script.py``), in order: ``collections``,
    over ``elapsed`` seconds.  ``to_svg()`` draws them on a time axis, one
    lane per generation; ``to_html()`` is a page with the picture and the
    table; printed, the table."""

    interpreter: str
    gc_regime: str
    elapsed: float
    collections: Tuple[Collection, ...]

    def collections_by_generation(self) -> Dict[int, int]:
        """How many collections of each generation ran."""
        counts: Dict[int, int] = {}
        for c in self.collections:
            counts[c.generation] = counts.get(c.generation, 0) + 1
        return counts

    def to_svg(self, title: Optional[str] = None) -> str:
        from ._timeline import timeline_svg

        if title is not None and not isinstance(title, str):
            raise TypeError(f"title must be a str or None, not {type(title).__name__}")
        return timeline_svg(self, title)

    def to_html(self) -> str:
        from ._timeline import timeline_html

        return timeline_html(self)

    def __str__(self) -> str:
        from ._render import timeline_text

        return timeline_text(self)


class RemoteTypeCount(NamedTuple):
    """One type of another process's census: its ``tp_name`` as the
    target's type object holds it (``None`` when it could not be read; a
    class's bare name, a C type's dotted one), its ``module`` as
    ``type.__module__`` gives it there (a class's ``__module__`` read from
    its dict; a C type's from its dotted name, else ``"builtins"``; ``None``
    when it could not be read), where the type object is, and how many
    tracked objects it has."""

    name: Optional[str]
    type_address: int
    objects: int
    module: Optional[str]

    @property
    def qualified(self) -> Optional[str]:
        """``module.name`` as a traceback would name the class (a builtin's
        bare name), or ``None`` when the name is not known."""
        if self.name is None:
            return None
        if self.module in (None, "builtins") or self.name.startswith(f"{self.module}."):
            return self.name
        return f"{self.module}.{self.name}"


@_result(frozen=True)
class RemoteSnapshot(_Document):
    """Another process's collector, read from outside (``attach(pid)``).

    ``version`` is the target's CPython version and ``runtime_file`` the
    file its ``_PyRuntime`` lives in (the executable or libpython).
    ``gc`` is its main interpreter's collector as ``gc_state()`` gives it
    inside.  The lengths are walked only while the target is stopped
    (``stopped``: by ``stop=True``, SIGSTOP or a tracer), and are ``None``
    otherwise or when the walk found a list changed (``partial`` says
    why).  Counts and thresholds are each exact when read; unless
    ``stopped``, of slightly different moments.

    ``census`` (``census=True``) counts the objects of every list by type,
    most first, in the same walk as the lengths: ``None`` where they are.
    ``tracked_objects`` is how many objects ``gc.get_objects()`` would list
    there (tracked, not frozen): the three generations' lengths added up,
    ``None`` where they are.

    A free-threaded target keeps no lists: its objects are found where
    CPython's collector finds them, on every thread's two GC heaps of
    mimalloc and (mimalloc 2.1: 3.13, 3.14.0-3.14.7) in the abandoned
    segments of threads that ended, each used block's tracked object
    counted (while ``stopped``): ``tracked_objects`` those not frozen,
    ``gc.permanent_length`` those ``gc.freeze()`` froze, and ``census``
    both.  The generations' lengths stay ``None`` (there are none), and
    generation 0's count includes every thread's allocations not yet added
    to it.  ``mimalloc`` is its heaps as ``mimalloc()`` gives them inside,
    every page read and checked, stopped or not (``None`` on GIL builds, or
    with ``mimalloc_missing`` saying why).

    ``pymalloc`` is its main interpreter's pymalloc as ``pymalloc()`` gives
    it inside, and ``fragmentation`` its arenas as ``fragmentation()``
    gives them, both read from its arenas and pool headers (``source`` is
    ``"obmalloc-state"`` on every version: before 3.12 through obmalloc.c's
    statics, which a full symbol table names: the build's own, or its
    debug file's).  They are ``None`` when they cannot be read, and
    ``pymalloc_missing`` says why: before 3.12 a stripped build without its
    debug file or an LTO build, another allocator, or (not ``stopped``)
    arenas that changed while they were read.  Unless ``stopped``, each
    arena is checked against its own counts when read, and the totals are
    of slightly different moments.
    """

    pid: int
    version: str
    runtime_file: str
    stopped: bool
    gc: GCState
    partial: Optional[str]
    census: Optional[Tuple[RemoteTypeCount, ...]]
    tracked_objects: Optional[int]
    pymalloc: Optional[PymallocSnapshot]
    fragmentation: Optional[Fragmentation]
    pymalloc_missing: Optional[str]
    mimalloc: Optional[MimallocSnapshot]
    mimalloc_missing: Optional[str]

    def __str__(self) -> str:
        from ._render import remote_snapshot_text

        return remote_snapshot_text(self)


@_result(frozen=True)
class InjectedReport(_Short):
    """memprobe run inside another process (``inject(pid)``, 3.14+): the
    report ``python -m memprobe`` prints there and its ``where`` reading
    (resident memory by who holds it, fragmentation, blocks by type, the
    most common tracked types), as the JSON documents ``--json`` gives
    (``report``, ``where``) and as the target's text (``text``; ``str()``
    shows it with anything a terminal would act on escaped).  Documents, not typed results: their types live in the
    target."""

    pid: int
    version: str
    runtime_file: str
    report: Dict[str, Any]
    where: Dict[str, Any]
    text: str

    def __str__(self) -> str:
        from ._render import printable

        return printable(self.text, lines=True)


class AttachError(MemprobeError):
    """attach() cannot read the process: it is gone, is not a CPython of
    the same build, or the reader may not read it (the message says which
    permission and how to grant it)."""


# Every type whose instances are memprobe's results: census() leaves them out.
# Not the Generation members: constants made once at import, not results
# that come and go, so census() counts them as gc.get_objects() lists them.
OWN_TYPES = tuple(t for t in list(globals().values())
                  if isinstance(t, type) and t.__module__ == __name__
                  and not issubclass(t, (BaseException, enum.Enum)))
# census() leaves their instances out, and maker() makes only these.
_set_own_types(OWN_TYPES)
