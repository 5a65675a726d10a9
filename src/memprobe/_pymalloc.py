"""pymalloc(), arenas() and block_info(): typed results from the raw numbers
the extension gathers in C (3.12+), or from the interpreter's own report
captured in memory (3.9-3.11)."""
from __future__ import annotations

import os
import re
import sys
import tempfile
from typing import Any, Dict, Tuple

from . import _memprobe
from ._memprobe import PymallocUnavailable
from ._types import ArenaInfo, ArenaMap, ArenaSizeClass, BlockInfo, PoolInfo, PymallocSnapshot, SizeClass

_VALUE_LINE = re.compile(r"^(?P<label>.+?)\s+=\s+(?P<value>[\d,]+)\s*$")
_CLASS_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")


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
    """Parse the pymalloc part of ``sys._debugmallocstats()`` output into the
    same raw numbers the 3.12+ walk produces."""
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


_BYTES_FIELDS = (
    "bytes_in_allocated_blocks", "bytes_in_available_blocks", "bytes_in_unused_pools",
    "bytes_lost_to_pool_headers", "bytes_lost_to_quantization", "bytes_lost_to_arena_alignment",
)
_constants: Dict[str, Any] = {}


def snapshot_from_raw(raw: Dict[str, Any]) -> PymallocSnapshot:
    """Build the typed snapshot from what the extension gathered."""
    if not _constants:
        facts = _memprobe._interpreter_facts()
        _constants.update(facts["pymalloc"], debug_build=facts["debug_build"])
    name = raw["allocator"]
    if raw["source"] == "debug-malloc-stats":
        parsed = parse_debug_malloc_stats(raw["text"].decode("ascii", "replace"))
        blocks = sum(c[3] for c in parsed["size_classes"])
        parsed.update(source=raw["source"], raw_allocated_blocks=raw["allocated_blocks"] - blocks)
        raw = parsed
    return PymallocSnapshot(
        source=raw["source"],
        allocator=name or "hooked",
        hooks_installed=name is None,
        debug_padding=name == "pymalloc_debug" if name else bool(_constants["debug_build"]),
        arena_size=_constants["arena_size"],
        pool_size=_constants["pool_size"],
        alignment=_constants["alignment"],
        small_request_threshold=_constants["small_request_threshold"],
        arenas_allocated_total=raw["arenas_allocated_total"],
        arenas_reclaimed=raw["arenas_allocated_total"] - raw["arenas_current"],
        arenas_highwater=raw["arenas_highwater"],
        arenas_current=raw["arenas_current"],
        raw_allocated_blocks=raw["raw_allocated_blocks"],
        size_classes=tuple(map(SizeClass._make, raw["size_classes"])),
        unused_pools=raw["unused_pools"],
        total_bytes=sum(raw[f] for f in _BYTES_FIELDS),
        **{f: raw[f] for f in _BYTES_FIELDS},
    )


def pymalloc() -> PymallocSnapshot:
    """A typed snapshot of the calling interpreter's pymalloc state.

    Every number is gathered in C before any Python object is built.
    Raises PymallocUnavailable when pymalloc does not serve allocations.
    """
    return snapshot_from_raw(_memprobe._pymalloc_gather(False))


def arenas() -> ArenaMap:
    """One entry per live arena, in the arena table's order (3.12+)."""
    return arena_map_from_raw(_memprobe._pymalloc_gather(True))


def arena_map_from_raw(raw: Dict[str, Any]) -> ArenaMap:
    return ArenaMap(
        ArenaInfo(address, total, free, tuple(map(ArenaSizeClass._make, classes)), tuple(map(PoolInfo._make, pools)))
        for address, total, free, classes, pools in raw["arenas"]
    )


def block_info(obj: object) -> BlockInfo:
    """Where obj's memory block sits in pymalloc (3.12+)."""
    raw = _memprobe._block_info(obj)
    return BlockInfo(
        pymalloc=raw["pymalloc"],
        getsizeof=sys.getsizeof(obj),
        preheader=raw["preheader"],
        debug_padding=raw["debug_padding"],
        arena=raw.get("arena"),
        arena_index=raw.get("arena_index"),
        pool=raw.get("pool"),
        size_class=raw.get("size_class"),
        block_size=raw.get("block_size"),
    )
