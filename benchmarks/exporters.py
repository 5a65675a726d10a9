"""What one reading of the metrics exporters costs, by heap size and
shape, in one run: memprobe's reading with and without the generations'
lengths, next to the stdlib way of getting those lengths
(len(gc.get_objects(g)) for each generation) and prometheus_client's own GC
collector (gc.get_stats()).

    python benchmarks/exporters.py            # heaps of 0, 1 and 4 million lists

Heaps are small lists, collected into the oldest generation, in two shapes
(as in bench_pyperf.py): ordered (the collector's lists run through memory
in allocation order) and shuffled (a third freed at random, the rest
re-linked in random order by a collection: what a long-running program's
heap looks like, and where a walk waits on memory at every step).  Prints
the best of 5 timings in milliseconds per reading.
"""
from __future__ import annotations

import gc
import random
import sys
import time
from typing import Callable, List

from memprobe import _metrics


def best_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def stdlib_lengths() -> List[int]:
    return [len(gc.get_objects(g)) for g in range(3)]


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [0, 1_000_000, 4_000_000]
    try:
        from prometheus_client.gc_collector import GCCollector
        from prometheus_client.registry import CollectorRegistry
        peer = GCCollector(registry=CollectorRegistry())
    except ImportError:
        peer = None
    print(f"Python {sys.version.split()[0]}: one reading, best of 5, ms")
    print(f"{'shape':>9} {'tracked objects':>16} {'with lengths':>13} {'without':>9} {'stdlib lengths':>15} "
          f"{'prometheus gc':>14}")
    heap: List[List[int]] = []
    for size in sizes:
        for shape in ("ordered", "shuffled"):
            heap = []
            gc.collect()
            heap = [[i] for i in range(size * 3 // 2 if shape == "shuffled" else size)]
            if shape == "shuffled":
                random.seed(1)
                random.shuffle(heap)
                del heap[size:]
                heap = list(heap)   # made after its items: the collection re-links them in this order
            gc.collect()
            with_lengths = _metrics.Reader(lengths=True)
            without = _metrics.Reader(lengths=False)
            row = [best_ms(with_lengths.read), best_ms(without.read), best_ms(stdlib_lengths)]
            row.append(best_ms(lambda: list(peer.collect())) if peer is not None else float("nan"))
            with_lengths.close()
            without.close()
            print(f"{shape:>9} {len(gc.get_objects()):>16,} "
                  + " ".join(f"{v:>{w}.2f}" for v, w in zip(row, (13, 9, 15, 14))))
    del heap


if __name__ == "__main__":
    main()
