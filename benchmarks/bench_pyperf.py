"""pyperf worker script: every memprobe probe next to the floor (the least
work that answers the same question), the stdlib way, and the peers.

Run through benchmarks/run_all.py, which calls it once per heap:

    python benchmarks/bench_pyperf.py --fast --heap 1000000 --shape shuffled -o out.json
    python benchmarks/bench_pyperf.py --fast --heap-mb 100 -o out.json

Heap shapes (objects are small lists, all tracked by the collector):

- ordered: built in allocation order, collected into generation 2, so the
  collector's lists run through memory in order;
- shuffled: built, a third deleted at random, the rest referenced in random
  order and collected, so the lists are reordered against memory (what a
  long-running program's heap looks like);
- frozen: ordered, then ``gc.freeze()`` of the whole heap (what servers do
  before forking), with new objects made after it.

``--heap-mb M`` instead holds M MB of live 96-byte pymalloc blocks.  Every
shape also has a half-full generation 0.  Each benchmark is named
"<probe> | <way>": memprobe, floor, stdlib, or a peer (objgraph, guppy3,
pympler), so that run_all.py can put them side by side.
"""
from __future__ import annotations

import collections
import gc
import random
import re
import sys
import tracemalloc

import pyperf

import memprobe
from memprobe import _memprobe
from memprobe._pymalloc import capture_debugmallocstats


def add_cmdline_args(cmd, args):
    cmd.extend(("--heap-mb", str(args.heap_mb)) if args.heap_mb else ("--heap", str(args.heap)))
    cmd.extend(("--shape", args.shape))


runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
size = runner.argparser.add_mutually_exclusive_group()
size.add_argument("--heap", type=int, default=100_000, help="heap of N tracked objects")
size.add_argument("--heap-mb", type=int, default=0, help="heap of M MB of live 96-byte blocks")
runner.argparser.add_argument("--shape", choices=("ordered", "shuffled", "frozen"), default="ordered")
args = runner.parse_args()

random.seed(2026)
if args.heap_mb:
    heap = [bytes(50) for _ in range(args.heap_mb * 1_000_000 // 96)]
    OLD = []
else:
    heap = [[] for _ in range(args.heap + (args.heap // 2 if args.shape == "shuffled" else 0))]
    if args.shape == "shuffled":
        random.shuffle(heap)
        del heap[args.heap:]     # a third freed at random: holes in their pools
        # A list made after its items: the collection below finds them
        # unreachable first, then re-links them in this (random) order.
        heap = list(heap)
    OLD = heap[len(heap) // 2]
gc.collect()
if args.shape == "frozen":
    gc.freeze()
gc.disable()  # keep the collector's lists still while timing
AFTER_FREEZE = [[] for _ in range(1000)]    # made after the freeze, on the frozen shape
gc.collect(1)
# A realistic young generation: half of threshold 0 in use, the probed object
# in its middle, so the stdlib way has to look through part of it.
half = max(gc.get_threshold()[0] // 2, 2)
young_population = [[] for _ in range(half // 2)]
YOUNG = [None]
young_population += [[] for _ in range(half - half // 2)]
NEWEST = [None]


def scan_generation(x):
    for g in range(3):
        if any(o is x for o in gc.get_objects(generation=g)):
            return g
    return -1


def stdlib_census():
    return collections.Counter(map(type, gc.get_objects()))


def stdlib_gc_state():
    return [len(gc.get_objects(generation=g)) for g in range(3)], gc.get_count(), gc.get_threshold()


def floor_walk():
    return _memprobe._bare_walk(_memprobe.UNFROZEN_LISTS)


SIZE_CLASS_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)


def debugmallocstats_recipe():
    """What scripts do today: capture sys._debugmallocstats() through fd 2 and parse its size classes."""
    return SIZE_CLASS_LINE.findall(capture_debugmallocstats())


def peers():
    """Census the way each installed peer does it: {name: function}."""
    found = {}
    try:
        import objgraph
        found["objgraph"] = lambda: objgraph.typestats(shortnames=False)
    except ImportError:
        pass
    objects = args.heap_mb == 0 and args.heap <= 100_000   # the two below take seconds per million objects
    try:
        import guppy
        if objects:
            hp = guppy.hpy()
            found["guppy3"] = lambda: hp.heap().bytype
    except ImportError:
        pass
    try:
        from pympler import muppy, summary
        if objects:
            found["pympler"] = lambda: summary.summarize(muppy.get_objects())
    except ImportError:
        pass
    return found


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


def compare(probe_name, memprobe_way, floor=None, stdlib=None, others=(), arg=None):
    """One probe, timed its way and each other way given."""
    ways = [("memprobe", memprobe_way), ("floor", floor), ("stdlib", stdlib), *others]
    for way, func in ways:
        if func is not None:
            if arg is None:
                runner.bench_func(f"{probe_name} | {way}", func)
            else:
                runner.bench_func(f"{probe_name} | {way}", func, arg)


x = object()
compare("refcount(x)", memprobe.refcount, stdlib=sys.getrefcount, arg=x)
compare("refinfo(x)", memprobe.refinfo, floor=memprobe.refcount, arg=x)
targets = [("generation(newest young)", NEWEST), ("generation(middle of young)", YOUNG),
           ("generation(middle of old)", OLD)]
if args.shape == "frozen":
    targets += [("generation(made after freeze)", AFTER_FREEZE[500])]
for name, obj in targets:
    compare(name, memprobe.generation, floor=memprobe.refcount, stdlib=scan_generation, arg=obj)
compare("gcinfo(middle of old)", memprobe.gcinfo, floor=memprobe.refcount, arg=OLD)
compare("census()", memprobe.census, floor=floor_walk, stdlib=stdlib_census, others=peers().items())
compare("gc_state()", memprobe.gc_state, floor=floor_walk, stdlib=stdlib_gc_state)
compare("snapshot()", memprobe.snapshot, floor=floor_walk)
compare("snapshot(census=False)", lambda: memprobe.snapshot(census=False), floor=sys.getallocatedblocks)
allocator = memprobe.interpreter().allocator
if allocator.startswith("pymalloc"):
    compare("pymalloc()", memprobe.pymalloc, floor=sys.getallocatedblocks, stdlib=debugmallocstats_recipe)
if (allocator.startswith("pymalloc") and sys.version_info >= (3, 12)) or allocator.startswith("mimalloc"):
    # Every block of every pool or page, against the walk that counts them.
    compare("block_census()", memprobe.block_census, floor=sys.getallocatedblocks)
compare("rss()", memprobe.rss, floor=sys.getallocatedblocks)
runner.bench_func("workload | plain", workload)
runner.bench_func("workload | memprobe snapshots around it", workload_with_snapshots)
runner.bench_func("workload | tracemalloc on", workload_under_tracemalloc)
