"""GC probes against the stdlib way, side by side, on heaps of growing size.

    python benchmarks/gc_probes.py [--sizes 10000,100000,1000000,10000000] [--markdown FILE]

For each heap size N (N tracked objects, collected into generation 2), every
probe is timed next to what a script does today with the gc module:

- generation(x), x young (generation 0 half full, x in its middle): memprobe vs scanning gc.get_objects(g) for
  g = 0, 1, 2 until x is found (stops early), and vs building an
  id -> generation map over every list (what tools that answer "which
  generation" for many objects do).
- generation(x), x old (generation 2, permanent generation empty): the same
  two baselines.
- census(): memprobe vs collections.Counter(type(o) for o in gc.get_objects()).
- gc_state(): memprobe vs len(gc.get_objects(g)) for g in 0, 1, 2 plus
  get_count()/get_threshold().

Times are the best of several timeit repeats; ratios are stdlib / memprobe.
Automatic collection is off while timing so the lists hold still.
"""
from __future__ import annotations

import argparse
import collections
import gc
import sys
from typing import Dict, List, Tuple

import memprobe
from _common import best_time, emit_table, fmt_time

GOALS = {
    "generation(young) vs scan": 10_000.0,
    "generation(old) vs scan": 1_000.0,
    "census() vs Counter": 10.0,
}


def scan_generation(x: object) -> int:
    for g in range(3):
        if any(o is x for o in gc.get_objects(generation=g)):
            return g
    return -1


def map_generation(x: object) -> int:
    where = {id(o): g for g in range(3) for o in gc.get_objects(generation=g)}
    return where.get(id(x), -1)


def stdlib_state() -> Tuple[List[int], Tuple[int, int, int], Tuple[int, int, int]]:
    return [len(gc.get_objects(generation=g)) for g in range(3)], gc.get_count(), gc.get_threshold()


def stdlib_census() -> "collections.Counter[type]":
    return collections.Counter(type(o) for o in gc.get_objects())


def measure(size: int) -> Dict[str, Tuple[float, float]]:
    """{name: (memprobe seconds, stdlib seconds)} on a heap of `size` objects."""
    heap = [[] for _ in range(size)]
    old = heap[size // 2]
    gc.collect()
    assert memprobe.generation(old) == 2 and gc.get_freeze_count() == 0
    # A realistic young generation: half of threshold 0 in use, the probed
    # object in the middle, so both ways have to look through part of it.
    half = gc.get_threshold()[0] // 2
    young_population = [[] for _ in range(half // 2)]
    young = [None]
    young_population += [[] for _ in range(half - half // 2)]
    assert memprobe.generation(young) == 0
    results = {
        "generation(young) vs scan": (
            best_time(lambda: memprobe.generation(young)), best_time(lambda: scan_generation(young))),
        "generation(young) vs id map": (
            best_time(lambda: memprobe.generation(young)), best_time(lambda: map_generation(young))),
        "generation(old) vs scan": (
            best_time(lambda: memprobe.generation(old)), best_time(lambda: scan_generation(old))),
        "generation(old) vs id map": (
            best_time(lambda: memprobe.generation(old)), best_time(lambda: map_generation(old))),
        "census() vs Counter": (best_time(memprobe.census), best_time(stdlib_census)),
        "gc_state() vs get_objects lengths": (best_time(memprobe.gc_state), best_time(stdlib_state)),
    }
    del heap, young_population
    gc.collect()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000,10000000")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    gc.disable()
    rows = []
    for size in sizes:
        print(f"heap of {size:,} tracked objects ...", file=sys.stderr, flush=True)
        for name, (probe, stdlib) in measure(size).items():
            rows.append((size, name, probe, stdlib, stdlib / probe))
    gc.enable()

    info = memprobe.interpreter()
    lines = [
        f"CPython {'.'.join(map(str, info.version))} ({'debug' if info.debug_build else 'release'}), "
        f"GC {info.gc_regime}; best of repeated timeit runs; ratio = stdlib / memprobe.",
        "",
        "| tracked objects | comparison | memprobe | stdlib | ratio | goal |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for size, name, probe, stdlib, ratio in rows:
        goal = GOALS.get(name)
        goal_text = f"≥ {goal:,.0f}×" if goal and size == 1_000_000 else ""
        lines.append(f"| {size:,} | {name} | {fmt_time(probe)} | {fmt_time(stdlib)} | {ratio:,.0f}× | {goal_text} |")
    emit_table(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
