"""memprobe itself does not leak (markupsafe's tests/test_leak.py idea),
checked with memprobe's own memprobe.testing.assert_blocks_stable.

Each public probe is called CALLS times per run (fewer for the probes that
walk the whole heap); a probe fails when every run leaves more blocks
allocated than before it (sys.getallocatedblocks(), after gc.collect()).
A leak of one block per call therefore shows as CALLS blocks in every run,
which the last test shows is caught.  A probe unavailable on this
interpreter is skipped, saying why, and its refusal is checked instead.
"""
import pytest

import memprobe
from memprobe.testing import assert_blocks_stable
from _support import needs_counted_blocks

# Every check here counts blocks.
pytestmark = needs_counted_blocks

CALLS = 100            # calls per run of the probes that read one object or one allocator
WHOLE_HEAP_CALLS = 10  # gc_state(), census(), arenas() and snapshot() walk every object or arena

TARGET = [1, 2, 3]    # a tracked container in a pymalloc (or mimalloc) block
TARGETS = [TARGET, "text", 10**20, None, {"a": TARGET}, (1, TARGET)]

# name: (one call of the probe, calls per run)
PROBES = {
    "refcount": (lambda: memprobe.refcount(TARGET), CALLS),
    "refinfo": (lambda: memprobe.refinfo(TARGET), CALLS),
    "generation": (lambda: memprobe.generation(TARGET), CALLS),
    "gcinfo": (lambda: memprobe.gcinfo(TARGET), CALLS),
    "generations": (lambda: memprobe.generations(TARGETS), CALLS),
    "gc_state": (memprobe.gc_state, WHOLE_HEAP_CALLS),
    "census": (memprobe.census, WHOLE_HEAP_CALLS),
    "pymalloc": (memprobe.pymalloc, CALLS),
    "arenas": (memprobe.arenas, WHOLE_HEAP_CALLS),
    "block_info": (lambda: memprobe.block_info(TARGET), CALLS),
    "mimalloc": (memprobe.mimalloc, CALLS),
    "snapshot": (memprobe.snapshot, WHOLE_HEAP_CALLS),
    "interpreter": (memprobe.interpreter, CALLS),
    "explain": (lambda: memprobe.explain(TARGET), CALLS),
}
# The documented ways a probe says it cannot work on this interpreter, and
# the probes that may say so on an interpreter whose layout checks passed.
UNAVAILABLE = (memprobe.PymallocUnavailable, memprobe.MimallocUnavailable, memprobe.UnsupportedInterpreter)
ALLOCATOR_PROBES = ["arenas", "block_info", "mimalloc", "pymalloc"]


def refusal(probe):
    """Why probe cannot work here, or None when it works."""
    try:
        probe()
    except UNAVAILABLE as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_does_not_leak(name):
    probe, calls = PROBES[name]
    why = refusal(probe)
    if why is not None:
        pytest.skip(f"{name}() is unavailable here ({why})")
    assert_blocks_stable(probe, calls_per_run=calls)


@pytest.mark.parametrize("name", ALLOCATOR_PROBES)
def test_probe_refusing_to_work_here_does_not_leak(name):
    """The error path frees what the probe had gathered before it refused."""
    probe, calls = PROBES[name]
    if refusal(probe) is None:
        pytest.skip(f"{name}() works here")

    def refused():
        try:
            probe()
        except UNAVAILABLE:
            pass

    assert_blocks_stable(refused, calls_per_run=calls)


KEPT = []


def test_a_leak_of_one_block_per_call_is_caught():
    """The suite can fail: a probe whose caller keeps one object per call
    leaks CALLS blocks per run, and assert_blocks_stable says so."""

    def refcount_and_keep_one_object():
        KEPT.append(object())
        return memprobe.refcount(TARGET)

    try:
        with pytest.raises(AssertionError, match="leaks blocks: every run left more than 0 allocated"):
            assert_blocks_stable(refcount_and_keep_one_object, calls_per_run=CALLS)
    finally:
        KEPT.clear()
