"""Leak checks that work on release builds; importable without pytest.

Each helper calls the function under test repeatedly and raises
AssertionError, with memprobe's diff table, when memory does not come back:

- assert_no_refcount_leak(func, obj): obj's reference count returns to
  where it started after every batch of calls;
- assert_blocks_stable(func): the regrtest -R idea with
  sys.getallocatedblocks(): fails when every run leaves more blocks
  allocated than ``tolerance``;
- assert_no_new_arenas(func): pymalloc obtains no more than
  ``max_new_arenas`` arenas while func runs.
"""
from __future__ import annotations

import gc
import sys
from typing import Any, Callable, List

from ._gc import paused_collector
from . import _memprobe
from ._memprobe import PymallocUnavailable, refcount, refinfo
from ._snapshot import snapshot

__all__ = ["assert_blocks_stable", "assert_no_new_arenas", "assert_no_refcount_leak"]


def _check_runs(runs: int) -> None:
    if runs < 1:
        raise ValueError(f"runs must be at least 1, not {runs}: with no run nothing is measured")


def _call(func: Callable[[], Any], times: int) -> None:
    for _ in range(times):
        func()


def _diff_table(func: Callable[[], Any], runs: int) -> str:
    """The diff table of ``runs`` more calls, made only once a check has
    failed (a passing check builds no snapshot)."""
    gc.collect()
    before = snapshot()
    _call(func, runs)
    gc.collect()
    return f"memprobe diff over {runs} more call(s):\n" + str(snapshot() - before)


def assert_no_refcount_leak(func: Callable[[], Any], obj: object, runs: int = 10, warmup: int = 2) -> None:
    """Call func ``runs`` times; obj's reference count must end where it began.

    Immortal objects (3.12+: None, small ints, interned strings...) are
    refused with ValueError: their count never moves, so no leak could show.
    A passing check runs one gc.collect(); a second one runs only when the
    count moved, to tell garbage from a leak.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller
    if refinfo(obj).immortal:
        raise ValueError(f"{type(obj).__name__} object is immortal: its reference count never changes, so it "
                         "cannot show a leak; watch a mortal object the code holds instead (or use "
                         "assert_blocks_stable)")
    _check_runs(runs)
    _call(func, warmup)
    gc.collect()
    start = refcount(obj)
    counts: List[int] = []
    with paused_collector():
        for _ in range(runs):
            func()
            counts.append(refcount(obj))
    end = refcount(obj)
    if end != start:
        gc.collect()    # references held by garbage are not a leak
        end = refcount(obj)
    if end != start:
        raise AssertionError(
            f"reference count of {type(obj).__name__} object grew from {start} to {end} over {runs} calls "
            f"of {getattr(func, '__qualname__', func)!s} (after each call: {counts})\n"
            + _diff_table(func, runs))


def assert_blocks_stable(func: Callable[[], Any], runs: int = 5, warmup: int = 3, tolerance: int = 0,
                         calls_per_run: int = 1) -> None:
    """Fail when every one of ``runs`` runs leaves more than ``tolerance``
    blocks allocated (sys.getallocatedblocks(), after gc.collect()).

    A passing check runs one gc.collect(), two when the function leaves
    cyclic garbage: runs are first measured with the collector paused; when
    every one of them grew, one collection tells garbage from a leak (if
    all the runs together then left at most ``tolerance`` blocks, they
    cannot each have left more).  Only growth that survives it is measured
    again run by run, with a collection around each.  Raises
    PymallocUnavailable where sys.getallocatedblocks() counts nothing
    (``PYTHONMALLOC=malloc``): the check could not fail."""
    __tracebackhide__ = True  # pytest shows the failure at the caller
    _check_runs(runs)
    if _memprobe._allocated_blocks() is None:
        raise PymallocUnavailable("assert_blocks_stable() needs sys.getallocatedblocks(), which counts only "
                                  "pymalloc's or mimalloc's blocks and counts nothing under this allocator")
    _call(func, warmup)
    deltas = [0] * runs     # made before the count starts, filled in place
    gc.collect()
    # Read twice: the second reading already sees an int like the one it
    # returns (the first, freed as the second takes its place), so later
    # readings count what the runs left and nothing of this line.
    start = sys.getallocatedblocks()
    start = sys.getallocatedblocks()
    with paused_collector():
        _block_deltas(func, deltas, calls_per_run, collect=False)
    if _memprobe._allocated_blocks() is None:   # the function installed hooks that hide the count
        raise PymallocUnavailable("assert_blocks_stable(): sys.getallocatedblocks() stopped counting while "
                                  f"{getattr(func, '__qualname__', func)!s} ran (did it start tracemalloc over "
                                  "mimalloc?): the check could not fail")
    if all(delta > tolerance for delta in deltas):
        gc.collect()
        if sys.getallocatedblocks() - start <= tolerance:
            return
        _block_deltas(func, deltas, calls_per_run, collect=True)
    if all(delta > tolerance for delta in deltas):
        raise AssertionError(
            f"{getattr(func, '__qualname__', func)!s} leaks blocks: every run left more than {tolerance} "
            f"allocated (per run: {deltas})\n" + _diff_table(func, runs * calls_per_run))


def _block_deltas(func: Callable[[], Any], deltas: List[int], calls_per_run: int, collect: bool) -> None:
    """Blocks each run leaves, into deltas (one run per item)."""
    for run in range(len(deltas)):
        if collect:
            gc.collect()
        start = sys.getallocatedblocks()
        _call(func, calls_per_run)
        if collect:
            gc.collect()
        deltas[run] = sys.getallocatedblocks() - start


def assert_no_new_arenas(func: Callable[[], Any], runs: int = 1, warmup: int = 1, max_new_arenas: int = 0) -> None:
    """Fail when pymalloc obtains more than ``max_new_arenas`` arenas while
    func runs ``runs`` times.  Raises PymallocUnavailable without pymalloc.
    One gc.collect(), before: a collection never obtains arenas, so none is
    needed after."""
    __tracebackhide__ = True  # pytest shows the failure at the caller
    from ._pymalloc import pymalloc

    _check_runs(runs)
    _call(func, warmup)
    gc.collect()
    # Read twice: an arena the first reading's own result needed is then
    # already counted, not taken for one of func's.
    start = pymalloc().arenas_allocated_total
    start = pymalloc().arenas_allocated_total
    _call(func, runs)
    new = pymalloc().arenas_allocated_total - start
    if new > max_new_arenas:
        raise AssertionError(
            f"{getattr(func, '__qualname__', func)!s} made pymalloc allocate {new} new arena(s) "
            f"(allowed {max_new_arenas})\n" + _diff_table(func, runs))
