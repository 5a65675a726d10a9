"""pytest plugin (entry point ``pytest11``): the ``memprobe`` fixture and the
``@pytest.mark.memprobe(...)`` marker.

    def test_no_leak(memprobe):
        memprobe.assert_blocks_stable(lambda: parse(b"..."))

    @pytest.mark.memprobe(max_new_arenas=0, max_new_blocks=100)
    def test_steady_state():
        ...

The marker measures the call of the test function (after a gc.collect(),
its own snapshots left out) and fails it, printing the diff table, when
pymalloc allocated more than ``max_new_arenas`` arenas or
``sys.getallocatedblocks()`` grew by more than ``max_new_blocks``: an
empty test passes at ``max_new_blocks=0``.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Generator, List, Optional

import pytest

from . import testing
from ._snapshot import measure, snapshot
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


def _problems(item: Any, diff: SnapshotDiff) -> List[str]:
    """What the test's marker does not allow in ``diff``."""
    marker = item.get_closest_marker("memprobe")
    max_arenas: Optional[int] = marker.kwargs.get("max_new_arenas")
    max_blocks: Optional[int] = marker.kwargs.get("max_new_blocks")
    problems = []
    if max_arenas is not None:
        if diff.arenas_allocated is None:
            problems.append("pymalloc's arenas could not be read in both snapshots (did the test install "
                            "allocation hooks?), so max_new_arenas could not be checked")
        elif diff.arenas_allocated > max_arenas:
            problems.append(f"pymalloc allocated {diff.arenas_allocated} new arena(s), allowed {max_arenas}")
    if max_blocks is not None and diff.allocated_blocks > max_blocks:
        problems.append(f"allocated blocks grew by {diff.allocated_blocks:,}, allowed {max_blocks:,}")
    return problems


def _failure(problems: List[str], diff: SnapshotDiff) -> BaseException:
    # pytrace=False: reported against the test, without the plugin's or
    # pluggy's frames.
    return pytest.fail.Exception("memprobe: " + "; ".join(problems) + "\n" + str(diff), pytrace=False)


_warm = False


# The marker measures the test function's own call: the hook hands pytest a
# function that reads before and after calling the test, so that nothing
# of pytest's or pluggy's runs between the two readings.
@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem: Any) -> Generator[None, Any, None]:
    test = pyfuncitem.obj
    marker = pyfuncitem.get_closest_marker("memprobe")
    if marker is None or inspect.iscoroutinefunction(test):
        yield
        return
    if marker.kwargs.get("max_new_arenas") is not None and _pymalloc_unavailable():
        # Said before the test runs (a skip from a wrapper's teardown is a
        # pluggy warning, and the test would have run for nothing).
        pytest.skip("memprobe(max_new_arenas=...) needs pymalloc, which does not serve allocations here")
    global _warm
    if not _warm:
        # Before 3.11 a function's first call leaves a frame cached on its
        # code object: let measure()'s own functions make theirs here.
        with measure():
            pass
        _warm = True
    m = measure(collect=True)

    @functools.wraps(test)
    def measured(*args: Any, **kwargs: Any) -> Any:
        with m:
            return test(*args, **kwargs)

    pyfuncitem.obj = measured
    try:
        outcome = yield
    finally:
        pyfuncitem.obj = test
    if outcome.excinfo is None:
        problems = _problems(pyfuncitem, m.diff)
        if problems:
            outcome.force_exception(_failure(problems, m.diff))
