"""pyperf worker script: every memprobe probe next to its stdlib counterpart.

Run through benchmarks/run_all.py, which calls it once per heap size:

    python benchmarks/bench_pyperf.py --fast --heap 1000000 -o out.json

Each benchmark name is "<probe> | <memprobe or stdlib>", so run_all.py can
pair them into ratios.  The heap is N small lists collected into generation
2, plus a half-full generation 0; the workload benchmarks build and drop a
dict of 100,000 objects plainly, between two memprobe snapshots, and under
tracemalloc.
"""
from __future__ import annotations

import collections
import gc
import sys
import tracemalloc

import pyperf

import memprobe
from _common import debugmallocstats_recipe


def add_cmdline_args(cmd, args):
    cmd.extend(("--heap", str(args.heap)))


runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
runner.argparser.add_argument("--heap", type=int, default=100_000)
args = runner.parse_args()

heap = [[] for _ in range(args.heap)]
OLD = heap[len(heap) // 2]
gc.collect()
gc.disable()
half = gc.get_threshold()[0] // 2
young_population = [[] for _ in range(half // 2)]
YOUNG = [None]
young_population += [[] for _ in range(half - half // 2)]


def scan_generation(x):
    for g in range(3):
        if any(o is x for o in gc.get_objects(generation=g)):
            return g
    return -1


def stdlib_census():
    return collections.Counter(type(o) for o in gc.get_objects())


def stdlib_gc_state():
    return [len(gc.get_objects(generation=g)) for g in range(3)], gc.get_count(), gc.get_threshold()


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


def pair(name, probe, stdlib):
    runner.bench_func(f"{name} | memprobe", probe)
    runner.bench_func(f"{name} | stdlib", stdlib)


x = object()
pair("refcount(x) vs sys.getrefcount(x)", lambda: memprobe.refcount(x), lambda: sys.getrefcount(x))
pair("generation(young) vs scanning get_objects", lambda: memprobe.generation(YOUNG), lambda: scan_generation(YOUNG))
pair("generation(old) vs scanning get_objects", lambda: memprobe.generation(OLD), lambda: scan_generation(OLD))
pair("census() vs Counter over get_objects()", memprobe.census, stdlib_census)
pair("gc_state() vs get_objects lengths", memprobe.gc_state, stdlib_gc_state)
if memprobe.interpreter().allocator.startswith("pymalloc"):
    pair("pymalloc() vs fd-2 _debugmallocstats + parse", memprobe.pymalloc, debugmallocstats_recipe)
    pair("pymalloc() vs sys.getallocatedblocks()", memprobe.pymalloc, sys.getallocatedblocks)
runner.bench_func("workload | plain", workload)
runner.bench_func("workload | memprobe snapshots around it", workload_with_snapshots)
runner.bench_func("workload | tracemalloc on", workload_under_tracemalloc)
