"""``pyperf --hook memprobe``: the allocator and the collector around every
benchmark call, written into pyperf's metadata.

pyperf (2.8+) finds this hook through the ``pyperf.hook`` entry point;
nothing here imports pyperf.  pyperf enters the hook right before each
call of the benchmark's function and leaves it right after (outside the
timing, which the function takes itself), and calls ``teardown(metadata)``
once a worker's runs are done.  Each enter and exit reads the allocators
into a buffer made beforehand (read_allocators: nothing is allocated
between the two readings) and gc.get_stats(); the differences add up
over the calls:

- ``memprobe_arenas_allocated`` / ``memprobe_arenas_freed``: pymalloc's
  arena churn; ``memprobe_arenas_highwater``: its high-water mark at the
  end;
- ``memprobe_net_blocks``: blocks allocated minus freed
  (sys.getallocatedblocks' count); ``memprobe_net_bytes_<size>``: the net
  bytes in pymalloc blocks of up to 64, 128, 256 and 512 bytes;
- ``memprobe_gc<g>_<stat>``: what gc.get_stats() counts for generation g
  (collections, collected, uncollectable, and on 3.15 whatever else it
  counts, such as a duration), over the calls;
- ``memprobe_mimalloc_committed``: mimalloc's committed bytes at the end,
  where it serves objects (free-threaded builds).

A number that cannot be read here (no pymalloc, say) is left out, not
written as 0.  ``python -m memprobe pyperf-compare a.json b.json`` puts
two result files' numbers side by side.
"""
from __future__ import annotations

import gc
from types import TracebackType
from typing import Any, Dict, List, Optional, Type

from ._snapshot import read_allocators, readings_diff

# Size groups of pymalloc's classes, by their largest block.
SIZE_GROUPS = (64, 128, 256, 512)
PREFIX = "memprobe_"


class Hook:
    """One worker's readings (pyperf makes one per set of runs)."""

    def __init__(self) -> None:
        # Made before any reading: the readings themselves allocate nothing.
        self._buffers = (bytearray(1 << 16), bytearray(1 << 16))
        self._before = self._buffers[0]
        self._gc_before: List[Dict[str, Any]] = []
        self._totals: Dict[str, float] = {}
        self._last: Dict[str, float] = {}

    def __enter__(self) -> "Hook":
        self._gc_before = gc.get_stats()
        self._before = read_allocators(self._buffers[0])
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        after = read_allocators(self._buffers[1])
        gc_after = gc.get_stats()
        diff = readings_diff(self._before, after)
        add = self._add
        if diff.pymalloc_available:
            for name, value in (("arenas_allocated", diff.arenas_allocated), ("arenas_freed", diff.arenas_freed)):
                if value is not None:
                    add(name, value)
            if diff.arenas_highwater is not None:
                self._last["arenas_highwater"] = diff.arenas_highwater
            groups = dict.fromkeys(SIZE_GROUPS, 0)
            for delta in diff.size_classes:
                group = next(limit for limit in SIZE_GROUPS if delta.block_size <= limit)
                groups[group] += delta.bytes_in_use
            for limit, nbytes in groups.items():
                add(f"net_bytes_{limit}", nbytes)
        if diff.allocated_blocks is not None:
            add("net_blocks", diff.allocated_blocks)
        for generation, (before, now) in enumerate(zip(self._gc_before, gc_after)):
            for stat, value in now.items():
                if isinstance(value, (int, float)) and isinstance(before.get(stat), (int, float)):
                    add(f"gc{generation}_{stat}", value - before[stat])
        if diff.mimalloc_available:
            from ._mimalloc import mimalloc

            self._last["mimalloc_committed"] = mimalloc().bytes_committed

    def _add(self, name: str, value: float) -> None:
        self._totals[name] = self._totals.get(name, 0) + value

    def teardown(self, metadata: Dict[str, Any]) -> None:
        """Write the totals into pyperf's metadata (ints and floats only)."""
        for name, value in {**self._totals, **self._last}.items():
            metadata[PREFIX + name] = value


def _mean(values: List[float]) -> float:
    return sum(values) / len(values)


def read_results(path: str) -> Dict[str, Dict[str, float]]:
    """{benchmark name: {memprobe key: mean over the runs that have it}}
    from a pyperf JSON file (a suite or one benchmark)."""
    import json

    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or "benchmarks" not in data:
        raise ValueError(f"{path}: not a pyperf result file")
    suite_metadata = data.get("metadata", {})
    out: Dict[str, Dict[str, float]] = {}
    for bench in data["benchmarks"]:
        common = {**suite_metadata, **bench.get("metadata", {})}
        name = common.get("name", "?")
        keys: Dict[str, List[float]] = {}
        for run in bench.get("runs", []):
            if "values" not in run:
                continue        # calibration runs
            merged = {**common, **run.get("metadata", {})}
            for key, value in merged.items():
                if key.startswith(PREFIX) and isinstance(value, (int, float)):
                    keys.setdefault(key[len(PREFIX):], []).append(value)
        out[name] = {key: _mean(values) for key, values in sorted(keys.items())}
    return out
