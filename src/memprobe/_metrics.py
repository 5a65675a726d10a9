"""The numbers memprobe's metrics exporters publish (memprobe.prometheus,
memprobe.opentelemetry): each metric declared once in METRICS, and one
Reader that reads them all at once.

A reading is a list of Samples: (metric, label value or None, value).  A
number that cannot be read here (pymalloc's arenas under
PYTHONMALLOC=malloc, mimalloc where it does not serve objects, resident
memory without /proc) is left out, never sent as 0.

What a reading costs (benchmarks/exporters.py, README): the collector's
counts, thresholds and statistics, pymalloc's figures and mallinfo2 take
microseconds; resident memory asks the kernel which arena pages are
resident; all of it, 2-3 ms with a million tracked objects.  The
generations' *lengths* walk the collector's lists:
about 13 ms per million tracked objects while the lists run through
memory in allocation order, but 175 ms per million on a heap that
collections have reordered (each step waits on memory).  So they are read
only while the collector's own estimate of the tracked objects is at most
``lengths_below`` (100,000 unless told: under 20 ms), or always with
``lengths=True``, never with ``lengths=False``.  The frozen count walks
the permanent list, which the estimate leaves out (a gc.freeze() before
fork can put millions there): it is read only with ``lengths=True``, or
sent as 0 when the list is known to be empty without a walk.

Collection durations: 3.15's gc.get_stats() counts them; before, the
Reader times each collection between gc.callbacks' "start" and "stop"
from when it is made until close(), so the durations cover those
collections (not those gc.get_stats() counted before).  The callback holds
the Reader weakly: a Reader dropped without close() takes it out of
gc.callbacks at the next collection.
"""
from __future__ import annotations

import gc
import sys
import time
import weakref
from typing import Any, Callable, Dict, List, NamedTuple, Optional

from ._gc import gc_state
from ._memprobe import MemprobeError
from ._types import ResidentMemory


class Metric(NamedTuple):
    """One metric: ``kind`` is "counter" (a total that only grows) or
    "gauge"; ``unit`` is the UCUM unit OpenTelemetry takes; ``label`` the
    name of the one label its samples carry, if any."""

    key: str
    prometheus: str     # without the "_total" prometheus_client adds to counters
    opentelemetry: str
    kind: str
    unit: str
    label: Optional[str]
    help: str


GENERATION = "generation"
PART = "part"

METRICS = (
    # cpython.gc.* names of OpenTelemetry's semantic conventions.
    Metric("gc_collections", "memprobe_gc_collections", "cpython.gc.collections", "counter",
           "{collection}", GENERATION, "Collections of each generation since the interpreter started."),
    Metric("gc_collected", "memprobe_gc_collected_objects", "cpython.gc.collected_objects", "counter",
           "{object}", GENERATION, "Objects the collector found unreachable and freed, by generation."),
    Metric("gc_uncollectable", "memprobe_gc_uncollectable_objects", "cpython.gc.uncollectable_objects",
           "counter", "{object}", GENERATION,
           "Unreachable objects the collector could not free (gc.garbage), by generation."),
    # The rest of the collector, in the same namespace.
    Metric("gc_duration", "memprobe_gc_collection_seconds", "cpython.gc.collection.duration", "counter",
           "s", GENERATION, "Time spent in collections of each generation (3.15: the interpreter's own "
           "count; before: timed with gc.callbacks since the exporter started)."),
    Metric("gc_candidates", "memprobe_gc_candidate_objects", "cpython.gc.candidate_objects", "counter",
           "{object}", GENERATION, "Objects the collector examined, by generation (3.15+)."),
    Metric("gc_count", "memprobe_gc_generation_pending", "cpython.gc.generation.pending", "gauge",
           "{object}", GENERATION, "The generation's count (gc.get_count()): allocations less "
           "deallocations since the last collection for generation 0, collections of the younger "
           "generation for the others."),
    Metric("gc_threshold", "memprobe_gc_generation_threshold", "cpython.gc.generation.threshold", "gauge",
           "{object}", GENERATION, "The count at which the generation is collected (gc.get_threshold())."),
    Metric("gc_objects", "memprobe_gc_generation_objects", "cpython.gc.generation.objects", "gauge",
           "{object}", GENERATION, "Tracked objects in the generation's list (a walk of the list: "
           "len(gc.get_objects(g)) without the list)."),
    Metric("gc_heap", "memprobe_gc_heap_objects", "cpython.gc.heap.objects", "gauge", "{object}", None,
           "The collector's own estimate of the tracked objects (3.14+)."),
    Metric("gc_frozen", "memprobe_gc_frozen_objects", "cpython.gc.frozen.objects", "gauge", "{object}", None,
           "Objects gc.freeze() moved to the permanent generation."),
    # pymalloc, mimalloc and resident memory.
    Metric("pymalloc_arenas", "memprobe_pymalloc_arenas", "cpython.memory.pymalloc.arenas.current", "gauge",
           "{arena}", None, "pymalloc's arenas now."),
    Metric("pymalloc_arenas_highwater", "memprobe_pymalloc_arenas_highwater",
           "cpython.memory.pymalloc.arenas.highwater", "gauge", "{arena}", None,
           "The most arenas pymalloc has held at once."),
    Metric("pymalloc_arenas_allocated", "memprobe_pymalloc_arenas_allocated",
           "cpython.memory.pymalloc.arenas.allocated", "counter", "{arena}", None,
           "Arenas pymalloc has allocated since the interpreter started (churn, with the arenas now)."),
    Metric("pymalloc_pools", "memprobe_pymalloc_pools_used", "cpython.memory.pymalloc.pools.used", "gauge",
           "{pool}", None, "pymalloc's pools that serve a size class."),
    Metric("pymalloc_block_bytes", "memprobe_pymalloc_block_bytes", "cpython.memory.pymalloc.block_bytes",
           "gauge", "By", None, "Bytes in pymalloc's allocated blocks: the small objects and buffers."),
    Metric("pymalloc_free_bytes", "memprobe_pymalloc_free_bytes", "cpython.memory.pymalloc.free_bytes",
           "gauge", "By", None, "Bytes pymalloc's arenas hold free: free blocks and empty pools."),
    Metric("pymalloc_fragmentation", "memprobe_pymalloc_fragmentation_ratio",
           "cpython.memory.pymalloc.fragmentation", "gauge", "1", None,
           "The part of pymalloc's arenas not in allocated blocks (0: all used)."),
    Metric("mimalloc_committed", "memprobe_mimalloc_committed_bytes", "cpython.memory.mimalloc.committed",
           "gauge", "By", None, "Bytes mimalloc has committed for the interpreter's heaps."),
    Metric("resident", "memprobe_resident_bytes", "cpython.memory.resident.usage", "gauge", "By", PART,
           "Resident memory by what holds it: pymalloc (its arenas' resident pages), mimalloc "
           "(committed), malloc (glibc's heap and mmapped blocks), other (code, stacks, the rest)."),
    Metric("resident_total", "memprobe_resident_total_bytes", "cpython.memory.resident.total", "gauge",
           "By", None, "The process's resident set size."),
)

BY_KEY = {m.key: m for m in METRICS}


class Sample(NamedTuple):
    metric: Metric
    label: Optional[str]
    value: float


DEFAULT_LENGTHS_BELOW = 100_000
_HAS_DURATION = sys.version_info >= (3, 15)


def _timing(reader: "weakref.ref[Reader]") -> Callable[[str, Dict[str, Any]], None]:
    """A gc callback that times collections for the Reader while it lives."""
    def on_collection(phase: str, info: Dict[str, Any]) -> None:
        r = reader()
        if r is not None:
            r._on_collection(phase, info)
    return on_collection


def _stop_timing(callback: Callable[[str, Dict[str, Any]], None]) -> None:
    while callback in gc.callbacks:
        gc.callbacks.remove(callback)


class Reader:
    """Reads METRICS; open from creation until close()."""

    def __init__(self, lengths: Optional[bool] = None, lengths_below: int = DEFAULT_LENGTHS_BELOW) -> None:
        if lengths is not None and not isinstance(lengths, bool):
            raise TypeError("lengths must be None (by heap size), True or False")
        if isinstance(lengths_below, bool) or not isinstance(lengths_below, int):
            raise TypeError("lengths_below must be an int")
        if lengths_below < 0:
            raise ValueError("lengths_below must be 0 or more")
        self.lengths = lengths
        self.lengths_below = lengths_below
        self._seconds = [0.0, 0.0, 0.0]
        self._started: Optional[float] = None
        self._callback: Optional[Callable[[str, Dict[str, Any]], None]] = None
        self._finalizer: Optional[Callable[[], Any]] = None    # a weakref.finalize
        if not _HAS_DURATION:
            self._callback = _timing(weakref.ref(self))
            gc.callbacks.append(self._callback)
            self._finalizer = weakref.finalize(self, _stop_timing, self._callback)

    def close(self) -> None:
        """Stop timing collections (the durations then stay where they are)."""
        if self._finalizer is not None:
            self._finalizer()
        self._callback = None

    def _on_collection(self, phase: str, info: Dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            generation = info.get("generation", 0)
            if 0 <= generation < 3:
                self._seconds[generation] += time.perf_counter() - self._started
            self._started = None

    def walks_lengths(self, estimate: Optional[int]) -> bool:
        """Whether this reading walks the collector's lists."""
        if self.lengths is not None:
            return self.lengths
        return estimate is not None and estimate <= self.lengths_below

    def read(self) -> List[Sample]:
        from ._rss import rss

        out: List[Sample] = []
        self._read_gc(out)
        self._read_pymalloc(out)
        self._read_resident(out, rss())
        return out

    def _read_gc(self, out: List[Sample]) -> None:
        add = out.append
        for generation, stats in enumerate(gc.get_stats()):
            g = str(generation)
            add(Sample(BY_KEY["gc_collections"], g, stats["collections"]))
            add(Sample(BY_KEY["gc_collected"], g, stats["collected"]))
            add(Sample(BY_KEY["gc_uncollectable"], g, stats["uncollectable"]))
            if "candidates" in stats:
                add(Sample(BY_KEY["gc_candidates"], g, stats["candidates"]))
            if "duration" in stats:
                add(Sample(BY_KEY["gc_duration"], g, stats["duration"]))
            elif not _HAS_DURATION and generation < 3:
                add(Sample(BY_KEY["gc_duration"], g, self._seconds[generation]))
        try:
            state = gc_state(lengths=False)
        except MemprobeError:
            return
        for gen in state.generations:
            add(Sample(BY_KEY["gc_count"], str(gen.generation), gen.count))
            add(Sample(BY_KEY["gc_threshold"], str(gen.generation), gen.threshold))
        estimate = state.heap_size
        if estimate is None:
            estimate = state.long_lived_total + state.long_lived_pending + state.generations[0].count
        if state.heap_size is not None:
            add(Sample(BY_KEY["gc_heap"], None, state.heap_size))
        # The permanent list is not in the estimate (gc.freeze() before a
        # fork can leave millions there): walked only with lengths=True.
        frozen = self.lengths is True
        walked = state
        if self.walks_lengths(estimate):
            try:
                walked = gc_state(frozen=frozen)
            except MemprobeError:
                return
            for gen in walked.generations:
                if gen.length is not None:
                    add(Sample(BY_KEY["gc_objects"], str(gen.generation), gen.length))
        if walked.permanent_length is not None:    # walked, or known empty without a walk
            add(Sample(BY_KEY["gc_frozen"], None, walked.permanent_length))

    def _read_pymalloc(self, out: List[Sample]) -> None:
        from ._pymalloc import pymalloc

        try:
            p = pymalloc()
        except MemprobeError:
            return      # pymalloc serves nothing here, or cannot be read: nothing to say
        add = out.append
        arena_bytes = p.arenas_current * p.arena_size
        add(Sample(BY_KEY["pymalloc_arenas"], None, p.arenas_current))
        add(Sample(BY_KEY["pymalloc_arenas_highwater"], None, p.arenas_highwater))
        add(Sample(BY_KEY["pymalloc_arenas_allocated"], None, p.arenas_allocated_total))
        add(Sample(BY_KEY["pymalloc_pools"], None, sum(c.pools for c in p.size_classes)))
        add(Sample(BY_KEY["pymalloc_block_bytes"], None, p.bytes_in_allocated_blocks))
        add(Sample(BY_KEY["pymalloc_free_bytes"], None, p.bytes_in_available_blocks + p.bytes_in_unused_pools))
        if arena_bytes:
            add(Sample(BY_KEY["pymalloc_fragmentation"], None, 1 - p.bytes_in_allocated_blocks / arena_bytes))

    @staticmethod
    def _read_resident(out: List[Sample], r: ResidentMemory) -> None:
        """Resident memory by part, and mimalloc's committed bytes from the
        same reading (rss() reads mimalloc; None where it serves nothing)."""
        add = out.append
        if r.mimalloc_committed is not None:
            add(Sample(BY_KEY["mimalloc_committed"], None, r.mimalloc_committed))
        if r.total is not None:
            add(Sample(BY_KEY["resident_total"], None, r.total))
        malloc_part = None if r.malloc_heap is None else r.malloc_heap + (r.malloc_mmapped or 0)
        for part, value in (("pymalloc", r.pymalloc_resident), ("mimalloc", r.mimalloc_committed),
                            ("malloc", malloc_part), ("other", r.other)):
            if value is not None:
                add(Sample(BY_KEY["resident"], part, value))
