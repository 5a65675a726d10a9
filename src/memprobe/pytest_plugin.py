"""pytest plugin (entry point ``pytest11``): the ``memprobe`` fixture and the
``@pytest.mark.memprobe(...)`` marker.

    def test_no_leak(memprobe):
        memprobe.assert_blocks_stable(lambda: parse(b"..."))

    @pytest.mark.memprobe(max_new_arenas=0, max_new_blocks=100)
    def test_steady_state():
        ...

The marker measures the call of the test function (a gc.collect() before
and after it, with nothing of its own alive in between) and fails it,
printing the allocators' diff table, when pymalloc allocated more than
``max_new_arenas`` arenas or ``sys.getallocatedblocks()`` grew by more
than ``max_new_blocks``: an empty test passes at ``max_new_blocks=0``.
"""
from __future__ import annotations

import functools
import gc
import inspect
from typing import Any, Dict, Generator, List, Optional, Tuple

import pytest

from . import testing
from . import _memprobe
from ._snapshot import measure, read_allocators, reading_buffers, readings_diff, snapshot
from ._types import Snapshot, SnapshotDiff


class MemprobeFixture:
    """What the ``memprobe`` fixture gives a test."""

    assert_no_refcount_leak = staticmethod(testing.assert_no_refcount_leak)
    assert_blocks_stable = staticmethod(testing.assert_blocks_stable)
    assert_no_new_arenas = staticmethod(testing.assert_no_new_arenas)
    measure = staticmethod(measure)

    @staticmethod
    def snapshot() -> Snapshot:
        return snapshot()


@pytest.fixture
def memprobe() -> MemprobeFixture:
    return MemprobeFixture()


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "memprobe(max_new_arenas=None, max_new_blocks=None): fail the test when its call "
        "makes pymalloc allocate more arenas or leaves more allocated blocks than allowed",
    )


def _pymalloc_unavailable() -> bool:
    from ._pymalloc import pymalloc
    from ._snapshot import attempt

    return attempt(pymalloc)[0] is None


# The marker's limits: (max_new_arenas, max_new_blocks), None for no limit.
_Limits = Tuple[Optional[int], Optional[int]]


def _limits(item: Any) -> _Limits:
    """Read from the marker before the test runs (pytest's own objects made
    on the way would otherwise be in the figure)."""
    marker = item.get_closest_marker("memprobe")
    return marker.kwargs.get("max_new_arenas"), marker.kwargs.get("max_new_blocks")


def _problems(limits: _Limits, diff: SnapshotDiff, cached_frames: int = 0) -> List[str]:
    """What the test's marker does not allow in ``diff`` (less the frame a
    first call cached before 3.11)."""
    max_arenas, max_blocks = limits
    problems = []
    if max_arenas is not None:
        if diff.arenas_allocated is None:
            problems.append("pymalloc's arenas could not be read in both snapshots (did the test install "
                            "allocation hooks?), so max_new_arenas could not be checked")
        elif diff.arenas_allocated > max_arenas:
            problems.append(f"pymalloc allocated {diff.arenas_allocated} new arena(s), allowed {max_arenas}")
    if max_blocks is not None:
        if diff.allocated_blocks is None:
            problems.append("sys.getallocatedblocks() counted nothing in one of the readings (did the test "
                            "install allocation hooks?), so max_new_blocks could not be checked")
        elif diff.allocated_blocks - cached_frames > max_blocks:
            problems.append(f"allocated blocks grew by {diff.allocated_blocks - cached_frames:,}, allowed "
                            f"{max_blocks:,}")
    return problems


def _failure(problems: List[str], diff: SnapshotDiff) -> BaseException:
    # pytrace=False: reported against the test, without the plugin's or
    # pluggy's frames.
    return pytest.fail.Exception("memprobe: " + "; ".join(problems) + "\n" + str(diff), pytrace=False)


# The marker measures the test function's own call: the hook hands pytest a
# function that reads the allocators before and after calling the test, so
# that nothing of pytest's or pluggy's runs between the two readings.  A
# reading only fills a buffer made beforehand: no snapshot object is alive
# while the test runs, and reading allocates nothing.  A gc.collect() before
# each reading: garbage from before the test is not freed inside it, and
# the test's own garbage is collected (its finalizers run) before it is
# judged; both readings see CPython's free lists empty.
def _measured_call(test: Any, positional: Tuple[Any, ...], keywords: Dict[str, Any],
                   readings: List[bytearray], collect: bool = True) -> Tuple[Any, int]:
    """(the test's result, blocks its first call cached as a frame: 1 or 0)."""
    code = getattr(test, "__code__", None)
    cached = code is not None and _memprobe._code_caches_frame(code) is False
    if collect:
        gc.collect()
    readings[0] = read_allocators(readings[0])
    try:
        # Arguments passed as a tuple allocate nothing; a dict of keywords
        # would be copied for the call (and leave the copy in a free list).
        result = test(*positional, **keywords) if keywords else test(*positional)
    finally:
        if collect:
            gc.collect()
        readings[1] = read_allocators(readings[1])
    # Before 3.11 a function's first call keeps its frame object on its
    # code (for the next call): one block the test did not leak.
    return result, int(cached and _memprobe._code_caches_frame(code) is True)


def _nothing() -> None:
    pass


_warm = False


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem: Any) -> Generator[None, Any, None]:
    test = pyfuncitem.obj
    marker = pyfuncitem.get_closest_marker("memprobe")
    if marker is None or inspect.iscoroutinefunction(test):
        yield
        return
    # Said before the test runs (a skip from a wrapper's teardown is a
    # pluggy warning, and the test would have run for nothing).
    if marker.kwargs.get("max_new_arenas") is not None and _pymalloc_unavailable():
        pytest.skip("memprobe(max_new_arenas=...) needs pymalloc, which does not serve allocations here")
    if marker.kwargs.get("max_new_blocks") is not None and _memprobe._allocated_blocks() is None:
        pytest.skip("memprobe(max_new_blocks=...) needs sys.getallocatedblocks(), which counts only "
                    "pymalloc's or mimalloc's blocks and counts nothing under this allocator")
    global _warm
    if not _warm:
        # Before 3.11 a function's first call leaves a frame cached on its
        # code object: let the marker's own functions make theirs here.
        warm = reading_buffers(2)
        _measured_call(_nothing, (), {}, warm, collect=False)
        _problems((0, 0), readings_diff(warm[0], warm[1]))
        _warm = True
    readings = reading_buffers(2)
    limits = _limits(pyfuncitem)
    frames = [0]

    @functools.wraps(test)
    def measured(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = inspect.signature(test).bind(*args, **kwargs)
            positional, keywords = tuple(bound.args), dict(bound.kwargs)
        except (TypeError, ValueError):
            positional, keywords = args, kwargs
        result, frames[0] = _measured_call(test, positional, keywords, readings)
        return result

    pyfuncitem.obj = measured
    try:
        outcome = yield
    finally:
        pyfuncitem.obj = test
    if outcome.excinfo is None:
        diff = readings_diff(readings[0], readings[1])
        problems = _problems(limits, diff, frames[0])
        if problems:
            outcome.force_exception(_failure(problems, diff))
