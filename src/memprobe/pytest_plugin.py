"""pytest plugin (entry point ``pytest11``): the ``memprobe`` fixture and the
``@pytest.mark.memprobe(...)`` marker.

    def test_no_leak(memprobe):
        memprobe.assert_blocks_stable(lambda: parse(b"..."))

    @pytest.mark.memprobe(max_new_arenas=0, max_new_blocks=100)
    def test_steady_state():
        ...

The marker measures the test's call phase (after a gc.collect()) and fails
it, printing the diff table, when pymalloc allocated more than
``max_new_arenas`` arenas or ``sys.getallocatedblocks()`` grew by more than
``max_new_blocks``.
"""
from __future__ import annotations

from typing import Any, Generator, Optional

import pytest

from . import testing
from ._snapshot import measure, snapshot
from ._types import Snapshot


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


# An old-style wrapper (new-style ones need pluggy 1.1+, and this plugin
# loads in every pytest run where memprobe is installed).
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: Any) -> Generator[None, Any, None]:
    marker = item.get_closest_marker("memprobe")
    if marker is None:
        yield
        return
    max_arenas: Optional[int] = marker.kwargs.get("max_new_arenas")
    max_blocks: Optional[int] = marker.kwargs.get("max_new_blocks")
    with measure(collect=True) as m:
        outcome = yield
    if outcome.excinfo is not None:
        return
    diff = m.diff
    problems = []
    if max_arenas is not None:
        if diff.arenas_allocated is None:
            pytest.skip("memprobe(max_new_arenas=...) needs pymalloc, which does not serve allocations here")
        if diff.arenas_allocated > max_arenas:
            problems.append(f"pymalloc allocated {diff.arenas_allocated} new arena(s), allowed {max_arenas}")
    if max_blocks is not None and diff.allocated_blocks > max_blocks:
        problems.append(f"allocated blocks grew by {diff.allocated_blocks:,}, allowed {max_blocks:,}")
    if problems:
        # pytrace=False: reported against the test, without the plugin's or
        # pluggy's frames.
        failure = pytest.fail.Exception("memprobe: " + "; ".join(problems) + "\n" + str(diff), pytrace=False)
        outcome.force_exception(failure)
