"""memprobe.mimalloc(): mimalloc's heaps as pages and blocks per heap kind and
block size, on free-threaded builds (every thread's heaps and the abandoned
pool) and on default 3.13+ builds started with PYTHONMALLOC=mimalloc (the
calling thread's heap, which is what sys.getallocatedblocks() counts there).

Totals are compared with sys.getallocatedblocks() read just before and just
after: the walk happens between the two, and the snapshot's own objects
(some hundred) exist only for the second.
"""
import gc
import sys

import pytest

import memprobe
from _support import INFO, ON_MIMALLOC, VERSION, needs_mimalloc, run_code, run_python

HAS_MIMALLOC = VERSION >= (3, 13)


def bracketed():
    before = sys.getallocatedblocks()
    snap = memprobe.mimalloc()
    after = sys.getallocatedblocks()
    return before, snap, after


@needs_mimalloc
def test_totals_agree_with_getallocatedblocks():
    before, snap, after = bracketed()
    # Blocks freed between the first reading and the walk are few; blocks the
    # snapshot adds (one tuple per row, and the result) show only after.
    assert before - 50 <= snap.blocks_in_use <= after
    # Each row keeps a tuple and up to 8 ints alive (small ints are shared).
    assert after - snap.blocks_in_use <= 9 * len(snap.size_classes) + 200


@needs_mimalloc
def test_one_hundred_thousand_objects_raise_their_class_by_as_many():
    first = memprobe.mimalloc()
    keep = [object() for _ in range(100_000)]
    second = memprobe.mimalloc()
    heap = "object" if INFO.free_threaded else "default"
    size = max((c for c in second.heap(heap)),
               key=lambda c: c.blocks_in_use - first.size_class(heap, c.block_size).blocks_in_use)
    grown = size.blocks_in_use - first.size_class(heap, size.block_size).blocks_in_use
    assert 100_000 <= grown <= 100_000 + 2_000
    assert size.block_size >= object.__basicsize__
    del keep
    third = memprobe.mimalloc()
    assert third.size_class(heap, size.block_size).blocks_in_use < size.blocks_in_use - 90_000


@needs_mimalloc
def test_each_size_class_adds_up():
    snap = memprobe.mimalloc()
    assert snap.size_classes
    for c in snap.size_classes:
        assert c.pages >= 1 and c.blocks_in_use >= 0 and c.blocks_pending >= 0 and c.blocks_free >= 0
        assert c.bytes_committed == (c.blocks_in_use + c.blocks_pending + c.blocks_free) * c.block_size
        assert c.bytes_committed <= c.bytes_reserved
        assert 0 <= c.abandoned_pages <= c.pages
    expected_heaps = {"mem", "object", "gc", "gc_pre"} if INFO.free_threaded else {"default"}
    assert {c.heap for c in snap.size_classes} <= expected_heaps
    assert snap.small_max < snap.medium_max < snap.large_max


@needs_mimalloc
def test_scope_is_every_thread_on_free_threaded_builds():
    import threading

    snap = memprobe.mimalloc()
    if not INFO.free_threaded:
        assert (snap.scope, snap.threads, snap.abandoned_pool) == ("current-thread", 1, False)
        return
    assert snap.scope == "all-threads"
    started, release = threading.Event(), threading.Event()
    held = []

    def hold():
        held.append([[i] for i in range(20_000)])
        started.set()
        release.wait()

    t = threading.Thread(target=hold)
    t.start()
    started.wait()
    during = memprobe.mimalloc()
    release.set()
    t.join()
    assert during.threads == snap.threads + 1
    # The other thread's 20,000 small lists are in the count.
    assert during.blocks_in_use - snap.blocks_in_use >= 40_000


@needs_mimalloc
def test_snapshots_carry_mimalloc_and_diff_it():
    # Garbage left by earlier tests, collected automatically inside the
    # block, would free blocks of the class counted here: collect it first.
    gc.collect()
    with memprobe.measure() as m:
        keep = [object() for _ in range(10_000)]
    assert m.before is not None and m.before.mimalloc is not None
    assert m.diff.mimalloc_available
    # (An object freed in between, such as a free-list int, may take one off.)
    assert abs(m.diff.mimalloc_blocks_in_use - 10_000) <= memprobe._snapshot.NOISE_BLOCKS
    assert m.diff.mimalloc_classes[0].blocks_in_use >= 10_000
    again = memprobe.SnapshotDiff.from_json(m.diff.to_json())
    assert again == m.diff
    assert memprobe.Snapshot.from_json(m.after.to_json()) == m.after
    assert "mimalloc" in str(m.diff)
    del keep


@pytest.mark.skipif(ON_MIMALLOC, reason="mimalloc is the allocator")
def test_other_allocators_raise_mimalloc_unavailable():
    with pytest.raises(memprobe.MimallocUnavailable, match="not mimalloc"):
        memprobe.mimalloc()
    assert memprobe.snapshot().mimalloc is None


@pytest.mark.skipif(not HAS_MIMALLOC or INFO.free_threaded, reason="PYTHONMALLOC=mimalloc exists on 3.13+ default builds")
def test_a_default_build_under_pythonmalloc_mimalloc_runs_this_file():
    proc = run_python("-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "not pythonmalloc",
                      pythonmalloc="mimalloc", stderr_to_stdout=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout.splitlines()[-1].split("passed")[0]


@pytest.mark.skipif(not HAS_MIMALLOC or INFO.free_threaded, reason="needs a default 3.13+ build")
def test_mimalloc_under_tracemalloc_is_unavailable_not_wrong():
    out = run_code("""
        import memprobe
        try:
            memprobe.mimalloc()
        except memprobe.MimallocUnavailable as exc:
            print("unavailable", exc)
    """, pythonmalloc="mimalloc", xoptions=["tracemalloc"], check=True).stdout
    assert out.startswith("unavailable")
