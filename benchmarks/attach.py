"""What one attach(pid, stop=True) costs, by heap size and shape, in one
run: the reading from outside (pausing the target, walking its lists, its
pymalloc) next to the stdlib way inside the target (the lengths of
gc.get_objects(g) for each generation, timed by the target itself), and
the reader's peak RSS.  On a free-threaded build: counting the objects on
every thread's mimalloc heaps and reading all their pages, next to
len(gc.get_objects()) (which lists every tracked object whatever the
generation asked).

    python benchmarks/attach.py              # heaps of 10^5 and 10^6 lists

Shapes: ordered (the young list runs through memory in allocation order)
and shuffled (a collection moved every list back to the young list in the
random order of the one list holding them: a walk then meets their pages in
any order).  Best of 3 readings, in milliseconds.  Linux only.
"""
from __future__ import annotations

import resource
import subprocess
import sys
import time

import memprobe

TARGET = """
import gc, random, sys, sysconfig, time
n, shuffled = int(sys.argv[1]), sys.argv[2] == "1"
gc.disable()
keep = [[] for _ in range(n)]
if shuffled:
    random.Random(1).shuffle(keep)
gc.collect()
generations = [None] if sysconfig.get_config_var("Py_GIL_DISABLED") else range(3)
best = min((time.perf_counter(), [len(gc.get_objects(g)) for g in generations], time.perf_counter())
           for _ in range(3))
print((best[2] - best[0]) * 1000, flush=True)
sys.stdin.read()
"""


def main() -> None:
    print(f"CPython {sys.version.split()[0]}: attach(pid, stop=True), best of 3")
    print(f"{'heap':>20} {'objects':>10} {'attach':>10} {'gc inside':>10} {'ratio':>6} {'reader RSS':>11}")
    for n in (10**5, 10**6):
        for shuffled in (False, True):
            with subprocess.Popen([sys.executable, "-c", TARGET, str(n), str(int(shuffled))],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as target:
                inside = float(target.stdout.readline())
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    remote = memprobe.attach(target.pid, stop=True)
                    times.append(time.perf_counter() - start)
                target.kill()
            outside = min(times) * 1000
            objects = remote.tracked_objects or 0
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            heap = f"10^{len(str(n)) - 1} lists, {'shuffled' if shuffled else 'ordered'}"
            print(f"{heap:>20} {objects:>10,} {outside:>8.1f}ms {inside:>8.1f}ms {outside / inside:>5.1f}x "
                  f"{rss:>8.0f}MiB")


if __name__ == "__main__":
    main()
