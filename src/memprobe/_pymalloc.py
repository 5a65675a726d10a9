"""pymalloc(), arenas() and block_info(): typed results, and every derived
number, from the plain data the extension reads: pymalloc's state (3.12+),
or the interpreter's own report captured in memory (3.9-3.11)."""
from __future__ import annotations

import os
import re
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import _memprobe
from ._render import mib
from ._interpreter import PYMALLOC_STATE_READABLE, allocator, block_size, pool_capacity, required_constants
from ._memprobe import PymallocUnavailable
from ._types import (ArenaHolders, ArenaInfo, ArenaMap, BlockCensus, BlockInfo, Fragmentation, OccupancyBucket,
                     PymallocSnapshot, Rows, SizeClass, SparseArena, TypeCounts, maker)

_VALUE_LINE = re.compile(r"^(?P<label>.+?)\s+=\s+(?P<value>[\d,]+)\s*$")
_CLASS_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")
# What _pymalloc_state() returns, field by field (parts.h: mp_pymalloc_build):
# five counts, the size classes as flat rows of SizeClass's five fields, the
# six byte counts in PymallocSnapshot's order, the arenas or None.
_State = Tuple[int, int, int, int, int, Tuple[int, ...], int, int, int, int, int, int, Any]
_PYMALLOC = maker(PymallocSnapshot)[0]
_SIZE_CLASSES = maker(SizeClass)[1]


def capture_debugmallocstats() -> str:
    """What ``sys._debugmallocstats()`` writes to file descriptor 2, captured
    by pointing fd 2 at a temporary file: the recipe scripts use today (and
    the baseline memprobe's benchmarks compare against)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("ascii", "replace")


def parse_debug_malloc_stats(text: str) -> Dict[str, Any]:
    """The pymalloc part of ``sys._debugmallocstats()`` output, as printed:
    the arena and byte lines by the snapshot's field names, and
    ``size_classes`` as (index, size, pools, blocks in use, blocks free)."""
    if "Small block threshold" not in text:
        raise PymallocUnavailable(
            "pymalloc printed no statistics: the allocator is hooked (e.g. by "
            "tracemalloc) and before CPython 3.12 its state is reachable only "
            "through that report"
        )
    values: Dict[str, int] = {}
    classes = []
    for line in text.splitlines():
        if line.startswith("arena map counts"):
            break  # 3.10+: the radix tree's own accounting follows
        m = _CLASS_LINE.match(line)
        if m:
            index, size, pools, used, free = map(int, m.groups())
            classes.append((index, size, pools, used, free))
            continue
        m = _VALUE_LINE.match(line)
        if m:
            values[m.group("label").strip()] = int(m.group("value").replace(",", ""))
    unused = next(k for k in values if k.endswith("bytes") and "unused pools" in k)
    return {
        "arenas_allocated_total": values["# arenas allocated total"],
        "arenas_highwater": values["# arenas highwater mark"],
        "arenas_current": values["# arenas allocated current"],
        "unused_pools": int(unused.split()[0]),
        "bytes_in_allocated_blocks": values["# bytes in allocated blocks"],
        "bytes_in_available_blocks": values["# bytes in available blocks"],
        "bytes_in_unused_pools": values[unused],
        "bytes_lost_to_pool_headers": values["# bytes lost to pool headers"],
        "bytes_lost_to_quantization": values["# bytes lost to quantization"],
        "bytes_lost_to_arena_alignment": values["# bytes lost to arena alignment"],
        "size_classes": classes,
    }


def state_from_report(report: Tuple[bytes, int]) -> _State:
    """The printed report of 3.9-3.11, (text, allocated blocks), as the
    plain state the 3.12+ walk returns (without arenas): the interpreter
    printed every derived number itself."""
    text, allocated = report
    p = parse_debug_malloc_stats(text.decode("ascii", "replace"))
    classes = tuple(value for row in p["size_classes"] for value in row)
    in_use = sum(row[3] for row in p["size_classes"])
    return (p["arenas_allocated_total"], p["arenas_highwater"], p["arenas_current"], allocated - in_use,
            p["unused_pools"], classes, p["bytes_in_allocated_blocks"], p["bytes_in_available_blocks"],
            p["bytes_in_unused_pools"], p["bytes_lost_to_pool_headers"], p["bytes_lost_to_quantization"],
            p["bytes_lost_to_arena_alignment"], None)


def snapshot_from_state(state: _State, serving: Optional[Tuple[str, bool, bool]] = None) -> PymallocSnapshot:
    """The typed snapshot: every number as read and derived in C (the way
    ``_PyObject_DebugMallocStats`` derives it), or as that report printed
    it before 3.12.  ``serving`` is the allocator's (name, hooked, debug)
    when the state is another process's; this process's allocator by
    default."""
    total, highwater, current, raw_blocks, unused_pools, classes, *lost = state[:12]
    c = required_constants()
    # Another process's state is always walked, never printed.
    source = "obmalloc-state" if PYMALLOC_STATE_READABLE or serving is not None else "debug-malloc-stats"
    if serving is None:
        now = allocator()
        serving = (now.name, now.hooked, now.debug)
    # PymallocSnapshot's fields in order (see its declaration).
    return _PYMALLOC(source, *serving,
                     c.arena_size, c.pool_size, c.alignment, c.small_request_threshold,
                     total, total - current, highwater, current, raw_blocks,
                     Rows(_SIZE_CLASSES(classes)), unused_pools, *lost, sum(lost))


def arena_map_from_state(state: _State) -> ArenaMap:
    """The arenas of a state read with arenas (3.12+, or another
    process's on every version)."""
    return ArenaMap(ArenaInfo(*arena) for arena in state[12])


def pymalloc() -> PymallocSnapshot:
    """A typed snapshot of the calling interpreter's pymalloc state.

    Every number is gathered in C before any Python object is built.
    Raises PymallocUnavailable when pymalloc does not serve allocations.
    """
    return snapshot_from_reading(_memprobe._pymalloc_state(False))


def snapshot_from_reading(raw: Any) -> PymallocSnapshot:
    """The snapshot of what _pymalloc_state(False) read: the walk (3.12+),
    or the report and its block count."""
    return snapshot_from_state(raw if PYMALLOC_STATE_READABLE else state_from_report(raw))


def state_from_words(words: Sequence[int], allocated: Optional[int]) -> Any:
    """What _pymalloc_state(False) returns, from the 64-bit words
    pymalloc.c packs the same reading into (mp_pymalloc_pack) and the block
    count read with it (always counted where pymalloc serves)."""
    if PYMALLOC_STATE_READABLE:
        return (*words[:5], tuple(words[11:]), *words[5:11], None)
    length = words[0]
    text = b"".join(w.to_bytes(8, sys.byteorder, signed=True) for w in words[1:])[:length]
    if allocated is None:
        raise PymallocUnavailable("sys.getallocatedblocks() counted no blocks with pymalloc's report")
    return (text, allocated)


def arenas() -> ArenaMap:
    """One entry per live arena, in the arena table's order (3.12+)."""
    return arena_map_from_state(_memprobe._pymalloc_state(True))


# Occupancy buckets: upper bounds of an arena's live fraction.
OCCUPANCY = (0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 1.0)
# An arena at most this live could be given back if its few blocks moved.
RETURNABLE = 0.01


def fragmentation(sparsest: int = 5) -> Fragmentation:
    """How much of what pymalloc holds is live blocks, arena by arena
    (3.12+): one walk of the arenas, read before anything is built."""
    if isinstance(sparsest, bool) or not isinstance(sparsest, int):
        raise TypeError("sparsest must be an int")
    if sparsest < 0:
        raise ValueError("sparsest must be >= 0")
    return fragmentation_of(arenas(), sparsest)


def fragmentation_of(arena_map: ArenaMap, sparsest: int = 5) -> Fragmentation:
    """The fragmentation of arenas already read."""
    c = required_constants()
    sizes = [block_size(i) for i in range(c.size_classes)]
    capacity = [pool_capacity(i) for i in range(c.size_classes)]
    live_total = free_blocks = empty_pools = 0
    rows = []
    for arena in arena_map:
        blocks = arena.pool_blocks
        live = live_blocks = 0
        for j, cls in enumerate(arena.pool_classes):
            if cls == 255:
                continue
            used = blocks[2 * j] | blocks[2 * j + 1] << 8
            live += used * sizes[cls]
            live_blocks += used
            free_blocks += (capacity[cls] - used) * sizes[cls]
        empty_pools += arena.free_pools
        live_total += live
        rows.append((live, live_blocks, arena.used_pools, arena.address))
    arena_bytes = len(arena_map) * c.arena_size
    buckets = []
    low = 0.0
    for high in OCCUPANCY:
        inside = [r for r in rows if (low < r[0] / c.arena_size or low == 0.0) and r[0] / c.arena_size <= high]
        buckets.append(OccupancyBucket(low, high, len(inside), len(inside) * c.arena_size, sum(r[0] for r in inside)))
        low = high
    returnable = [r for r in rows if r[0] <= RETURNABLE * c.arena_size]
    rows.sort()
    sparse = Rows(SparseArena(address, n, live, pools) for live, n, pools, address in rows[:sparsest])
    result = dict(
        arenas=len(arena_map), arena_bytes=arena_bytes, live_bytes=live_total, free_block_bytes=free_blocks,
        empty_pool_bytes=empty_pools * c.pool_size,
        overhead_bytes=arena_bytes - live_total - free_blocks - empty_pools * c.pool_size,
        returnable_arenas=len(returnable), returnable_bytes=len(returnable) * c.arena_size,
        occupancy=Rows(buckets), sparsest=sparse)
    return Fragmentation(verdict=_verdict(result), **result)  # type: ignore[arg-type]


def _verdict(f: Dict[str, Any]) -> str:
    """The situation in plain words."""
    held, live = f["arena_bytes"], f["live_bytes"]
    if held == 0:
        return "pymalloc holds no arenas."
    if f["returnable_bytes"] >= held / 2:
        first = f["sparsest"][0] if f["sparsest"] else None
        pinned = (f"; the sparsest, 0x{first.address:x}, is held by {first.live_blocks:,} block(s)"
                  if first is not None else "")
        return (f"Fragmented: pymalloc holds {mib(held)} in {f['arenas']:,} arenas for {mib(live)} of live "
                f"blocks. {f['returnable_arenas']:,} arenas ({mib(f['returnable_bytes'])}) are at most "
                f"{RETURNABLE:.0%} live: a few long-lived objects in each keep it from being returned to the "
                f"system{pinned}.")
    if live < held / 2:
        return (f"Partly fragmented: {mib(live)} of live blocks in {mib(held)} of arenas; the rest is free "
                f"blocks in pools in use ({mib(f['free_block_bytes'])}) and empty pools "
                f"({mib(f['empty_pool_bytes'])}), which pymalloc reuses before it asks the system for more.")
    return f"Mostly live: {mib(live)} of the {mib(held)} pymalloc holds in arenas is live blocks."


def getsizeof(obj: object) -> Optional[int]:
    """sys.getsizeof(obj), or None when the object's own __sizeof__ raises
    or answers something that is not a size (any object is valid input)."""
    try:
        return sys.getsizeof(obj)
    except Exception:
        return None


def block_info(obj: object) -> BlockInfo:
    """Where obj's memory block sits in pymalloc (3.12+)."""
    preheader, padding, arena, arena_index, pool, size_class = _memprobe._block_info(obj)
    return BlockInfo(
        pymalloc=arena is not None,
        getsizeof=getsizeof(obj),
        preheader=preheader,
        debug_padding=padding,
        arena=arena,
        arena_index=arena_index,
        pool=pool,
        size_class=size_class,
        block_size=None if size_class is None else block_size(size_class),
    )


_BLOCK_CENSUS = maker(BlockCensus)[0]
_ARENA_HOLDERS = maker(ArenaHolders)[0]


# (arena address, pool number in the arena) -> (its most common type or
# None, that type's blocks, blocks holding objects of known types).
PoolTypes = Dict[Tuple[int, int], Tuple[Optional[type], int, int]]


def pool_types() -> PoolTypes:
    """Each pool in use's most common type, by the block census (3.12+)."""
    raw = _memprobe._block_census(True)
    types, rows = raw[0], raw[10]
    assert rows is not None     # asked for
    return {(rows[i], rows[i + 1]): (None if rows[i + 2] < 0 else types[rows[i + 2]], rows[i + 3], rows[i + 4])
            for i in range(0, len(rows), 5)}


# The census names its allocator with one of these constants: a str made
# for each result would be one more str in a census taken while it is held.
_CENSUS_ALLOCATORS = {"pymalloc": "pymalloc", "mimalloc": "mimalloc"}


def block_census() -> BlockCensus:
    """The allocator's in-use blocks by the type of the object each holds,
    and what holds each arena: pymalloc's (3.12+) or mimalloc's (3.13+);
    one walk of every pool or page, read into C memory before anything is
    built (blocks.c)."""
    raw = _memprobe._block_census(False)
    types, blocks, nbytes, arenas, holders, other, other_bytes, own, own_bytes, unreadable, _, allocator = raw
    types = Rows(types)
    ranked = TypeCounts.ranked
    by_arena: Dict[int, Tuple[List[type], List[int]]] = {}
    for i in range(0, len(holders), 3):
        address, index, count = holders[i:i + 3]
        held = by_arena.setdefault(address, ([], []))
        held[0].append(types[index])
        held[1].append(count)
    rows = Rows(_ARENA_HOLDERS(address, sum(counts), ranked(Rows(held), Rows(counts)))
                for address, (held, counts) in by_arena.items())
    # BlockCensus's fields in order (see its declaration).
    return _BLOCK_CENSUS(ranked(types, Rows(blocks)), ranked(types, Rows(nbytes)), ranked(types, Rows(arenas)),
                         rows, other, other_bytes, own, own_bytes, unreadable, _CENSUS_ALLOCATORS[allocator])
