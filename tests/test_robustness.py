"""Never crash: every probe on every object the interpreter holds, and probes
called while other threads allocate and free.  Each runs in a subprocess, so
a crash shows as a failed test with its exit status instead of killing pytest."""
from _support import run_code


def test_every_probe_on_every_object_in_the_heap():
    """The batch answer equals gc's lists read just before it (or, for an
    object that moved in between, gc's lists read after it); a later
    per-object answer that differs must match gc's lists at that moment
    (3.15.2 re-tracks some module and function objects into generation 0
    without a collection)."""
    out = run_code("""
        import gc, sys, memprobe
        gc.disable()

        free_threaded = memprobe.interpreter().free_threaded

        def where(o):
            if free_threaded:  # no generations: tracked or not
                return int(memprobe.Generation.TRACKED) if gc.is_tracked(o) else -1
            return next((g for g in range(3) if any(x is o for x in gc.get_objects(generation=g))), -1)

        objs = gc.get_objects()
        objs += [1, 2**70, "s", b"b", 1.5, None, int, type, sys, memprobe, gc.get_objects, ()]
        members = {}
        for g in ((int(memprobe.Generation.TRACKED),) if free_threaded else range(3)):
            for o in gc.get_objects(generation=None if free_threaded else g):
                members[id(o)] = g
        batch = memprobe.generations(objs)
        # Objects 3.15 moved into generation 0 meanwhile must be there now.
        batch_mismatches = sum(1 for o, g in zip(objs, batch)
                               if gc.is_tracked(o) and members.get(id(o)) != int(g) and where(o) != int(g))
        moved = 0
        for o, g in zip(objs, batch):
            memprobe.refcount(o)
            memprobe.refinfo(o)
            info = memprobe.gcinfo(o)
            assert info.tracked == gc.is_tracked(o)
            if info.generation != g:
                moved += 1
                assert int(info.generation) == where(o), (o, g, info.generation)
            try:
                memprobe.block_info(o)
            except memprobe.MemprobeError:
                pass
        for o in objs[::97]:
            memprobe.explain(o)
        print(len(objs), batch_mismatches, moved)
    """, stderr_to_stdout=True, timeout=300, check=True).stdout
    count, batch_mismatches, moved = map(int, out.split())
    assert count > 1000
    assert batch_mismatches == 0


def test_probes_while_other_threads_allocate_and_free():
    """Eight threads build and drop lists and cycles while two others call
    every probe: 10 seconds on free-threaded builds (where the threads truly
    run at once), 3 elsewhere.  Prints how many probe rounds ran."""
    out = run_code("""
        import threading, time, gc, sys, memprobe
        seconds = 10 if memprobe.interpreter().free_threaded else 3
        stop = time.monotonic() + seconds
        errors = []
        churned = []

        def churn():
            rounds = 0
            while time.monotonic() < stop:
                junk = [[i] for i in range(2000)]
                cycle = [junk]
                cycle.append(cycle)
                del junk, cycle
                rounds += 1
            churned.append(rounds)

        results = []

        def probe():
            calls = 0
            try:
                while time.monotonic() < stop:
                    x = [calls]
                    memprobe.generation(x); memprobe.gcinfo(x); memprobe.refinfo(x)
                    memprobe.gc_state(); memprobe.census(top=3)
                    memprobe.generations([x, calls, gc])
                    memprobe.explain(x)
                    for allocator_probe in (memprobe.pymalloc, memprobe.mimalloc,
                                            lambda: memprobe.block_info(x)):
                        try:
                            allocator_probe()
                        except memprobe.MemprobeError:
                            pass
                    if calls % 10 == 0:
                        memprobe.snapshot()
                    calls += 1
            except Exception as exc:
                errors.append(repr(exc))
            results.append(calls)

        threads = [threading.Thread(target=churn) for _ in range(8)] + [threading.Thread(target=probe) for _ in range(2)]
        for t in threads: t.start()
        for t in threads: t.join()
        print("errors", len(errors), errors[:3])
        print("seconds", seconds, "churn", sum(churned), "calls", *results)
    """, stderr_to_stdout=True, timeout=300, check=True).stdout
    print(out)
    assert "errors 0 []" in out
    calls = [int(n) for n in out.split("calls", 1)[1].split()]
    assert len(calls) == 2 and all(n > 0 for n in calls)
