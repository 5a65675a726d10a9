"""pyperf worker script: every memprobe probe next to its stdlib counterpart.

Run through benchmarks/run_all.py, which calls it once per heap:

    python benchmarks/bench_pyperf.py --fast --heap 1000000 -o out.json
    python benchmarks/bench_pyperf.py --fast --heap-mb 100 -o out.json

The heap is either N tracked objects (small lists) or M MB of live 96-byte
pymalloc blocks (bytes(50) asks for 83 bytes), collected into generation 2,
plus a half-full generation 0.  Each benchmark name is "<comparison> |
memprobe" or "<comparison> | stdlib", so run_all.py can pair them into
ratios.  The workload benchmarks build and drop a dict of 100,000 objects
plainly, between two memprobe snapshots, and under tracemalloc.
"""
from __future__ import annotations

import collections
import gc
import re
import sys
import tracemalloc

import pyperf

import memprobe
from memprobe._pymalloc import capture_debugmallocstats


def add_cmdline_args(cmd, args):
    cmd.extend(("--heap-mb", str(args.heap_mb)) if args.heap_mb else ("--heap", str(args.heap)))


runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
shape = runner.argparser.add_mutually_exclusive_group()
shape.add_argument("--heap", type=int, default=100_000, help="heap of N tracked objects")
shape.add_argument("--heap-mb", type=int, default=0, help="heap of M MB of live 96-byte blocks")
args = runner.parse_args()

if args.heap_mb:
    heap = [bytes(50) for _ in range(args.heap_mb * 1_000_000 // 96)]
    OLD = []
else:
    heap = [[] for _ in range(args.heap)]
    OLD = heap[len(heap) // 2]
gc.collect()
gc.disable()  # keep the collector's lists still while timing
# A realistic young generation: half of threshold 0 in use, the probed object
# in its middle, so both ways have to look through part of it.
half = gc.get_threshold()[0] // 2
young_population = [[] for _ in range(half // 2)]
YOUNG = [None]
young_population += [[] for _ in range(half - half // 2)]
assert memprobe.generation(OLD) == 2 and memprobe.generation(YOUNG) == 0


def scan_generation(x):
    for g in range(3):
        if any(o is x for o in gc.get_objects(generation=g)):
            return g
    return -1


def map_generation(x):
    where = {id(o): g for g in range(3) for o in gc.get_objects(generation=g)}
    return where.get(id(x), -1)


def stdlib_census():
    return collections.Counter(type(o) for o in gc.get_objects())


def stdlib_gc_state():
    return [len(gc.get_objects(generation=g)) for g in range(3)], gc.get_count(), gc.get_threshold()


SIZE_CLASS_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)


def debugmallocstats_recipe():
    """What scripts do today: capture sys._debugmallocstats() through fd 2 and parse its size classes."""
    return SIZE_CLASS_LINE.findall(capture_debugmallocstats())


class Payload:
    __slots__ = ("key", "value")

    def __init__(self, key):
        self.key = key
        self.value = [key]


def workload():
    data = {i: Payload(i) for i in range(100_000)}
    del data


def workload_with_snapshots():
    before = memprobe.snapshot()
    workload()
    return memprobe.snapshot() - before


def workload_under_tracemalloc():
    if not tracemalloc.is_tracing():
        tracemalloc.start()
    workload()


def pair(name, probe, stdlib, *args):
    runner.bench_func(f"{name} | memprobe", probe, *args)
    runner.bench_func(f"{name} | stdlib", stdlib, *args)


pair("refcount(x) vs sys.getrefcount(x)", memprobe.refcount, sys.getrefcount, object())
for age, obj in (("young", YOUNG), ("old", OLD)):
    pair(f"generation({age}) vs scanning get_objects", memprobe.generation, scan_generation, obj)
    pair(f"generation({age}) vs an id→generation map", memprobe.generation, map_generation, obj)
pair("census() vs Counter over get_objects()", memprobe.census, stdlib_census)
pair("gc_state() vs get_objects lengths", memprobe.gc_state, stdlib_gc_state)
if memprobe.interpreter().allocator.startswith("pymalloc"):
    pair("pymalloc() vs fd-2 _debugmallocstats + parse", memprobe.pymalloc, debugmallocstats_recipe)
    pair("pymalloc() vs sys.getallocatedblocks()", memprobe.pymalloc, sys.getallocatedblocks)
runner.bench_func("workload | plain", workload)
runner.bench_func("workload | memprobe snapshots around it", workload_with_snapshots)
runner.bench_func("workload | tracemalloc on", workload_under_tracemalloc)
