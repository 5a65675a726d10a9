"""The pytest plugin and memprobe.testing: each helper fails on a leaking
function and passes on a clean one; the plugin's output is checked with
pytester."""
import gc
import sys

import pytest

import memprobe
from memprobe import testing
from _support import BLOCKS_COUNTED, FREE_THREADED, PYMALLOC_SERVING, needs_counted_blocks, run_code

LEAK = []


def leaking():
    # A C-level leak, simulated: references kept where nothing frees them.
    LEAK.append([object() for _ in range(20)])


def clean():
    temp = [object() for _ in range(20)]
    del temp


def test_testing_module_imports_without_pytest():
    code = ("import sys; sys.modules['pytest'] = None; import memprobe.testing as t; "
            "t.assert_blocks_stable(lambda: None); print('ok')")
    assert run_code(code, pythonmalloc=None).stdout == "ok\n"


def test_refcount_leak_is_caught_and_clean_code_passes():
    shared = object()
    holder = []
    with pytest.raises(AssertionError, match="reference count of object object grew"):
        testing.assert_no_refcount_leak(lambda: holder.append(shared), shared, runs=5)
    testing.assert_no_refcount_leak(lambda: [shared] * 3, shared, runs=5)


@needs_counted_blocks
def test_block_leak_is_caught_and_clean_code_passes():
    with pytest.raises(AssertionError, match="leaks blocks") as excinfo:
        testing.assert_blocks_stable(leaking, runs=4)
    assert "memprobe diff on CPython" in str(excinfo.value)
    testing.assert_blocks_stable(clean, runs=4, tolerance=5)


def test_new_arenas_are_caught_and_clean_code_passes():
    if not PYMALLOC_SERVING:
        pytest.skip("needs pymalloc")
    # Enough objects to fill every free block and empty pool the earlier
    # tests left behind, and then two whole arenas more.
    p = memprobe.pymalloc()
    room = p.bytes_in_available_blocks + p.bytes_in_unused_pools + 2 * p.arena_size
    n = room // p.size_class(0).block_size + 1
    big = []
    with pytest.raises(AssertionError, match="new arena"):
        testing.assert_no_new_arenas(lambda: big.append([object() for _ in range(n)]), warmup=0)
    testing.assert_no_new_arenas(clean, runs=3)


PLUGIN_TESTS = '''
import pytest

LEAK = []

def leaking():
    LEAK.append([object() for _ in range(20)])

def test_fixture_catches_a_leak(memprobe):
    memprobe.assert_blocks_stable(leaking, runs=4)

def test_fixture_passes_clean_code(memprobe):
    memprobe.assert_blocks_stable(lambda: [object() for _ in range(20)], runs=4, tolerance=5)
    memprobe.assert_no_refcount_leak(lambda: None, LEAK)

@pytest.mark.memprobe(max_new_blocks=1000)
def test_marker_catches_growth():
    LEAK.append([[i] for i in range(50_000)])

@pytest.mark.memprobe(max_new_blocks=1000, max_new_arenas=0)
def test_marker_passes_steady_code():
    sum(range(1000))
'''


@needs_counted_blocks
def test_plugin_fixture_and_marker_with_pytester(pytester):
    pytester.makepyfile(PLUGIN_TESTS)
    result = pytester.runpytest_subprocess("-v")
    # max_new_arenas needs pymalloc: elsewhere that test is skipped, saying why.
    steady = "PASSED" if PYMALLOC_SERVING else "SKIPPED"
    result.assert_outcomes(passed=1 + (steady == "PASSED"), failed=2, skipped=int(steady == "SKIPPED"))
    result.stdout.fnmatch_lines([
        "*test_fixture_catches_a_leak FAILED*",
        "*test_fixture_passes_clean_code PASSED*",
        "*test_marker_catches_growth FAILED*",
        f"*test_marker_passes_steady_code {steady}*",
    ])
    result.stdout.fnmatch_lines(["*leaks blocks: every run left more than 0 allocated*"])
    result.stdout.fnmatch_lines(["*memprobe: allocated blocks grew by*allowed 1,000*"])
    result.stdout.fnmatch_lines(["*memprobe diff on CPython*"])
    # Failures point at the tests, not at memprobe's or pluggy's frames.
    assert "pluggy/" not in result.stdout.str() and "_hooks.py" not in result.stdout.str()
    assert "memprobe/testing.py" not in result.stdout.str()
    assert "pytest_plugin.py" not in result.stdout.str()


def test_plugin_is_registered_through_the_entry_point(pytester):
    pytester.makepyfile("def test_x(memprobe):\n    assert memprobe.snapshot().objects_by_type\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="immortal objects exist from 3.12")
@pytest.mark.parametrize("obj", [None, 7, "a", ()], ids=["None", "small int", "one-character str", "empty tuple"])
def test_refcount_leak_check_refuses_immortal_objects(obj):
    """An immortal object's count never moves, so a leak of it could never
    show: the check refuses instead of passing."""
    leaked = []
    with pytest.raises(ValueError, match="immortal"):
        testing.assert_no_refcount_leak(lambda: leaked.append(obj), obj)


MARKER_BOUNDS = '''
import pytest

LEAK = []

@pytest.mark.memprobe(max_new_blocks=0)
def test_empty():
    pass

@pytest.mark.memprobe(max_new_blocks=0)
def test_empty_again():
    pass

@pytest.mark.memprobe(max_new_blocks=0)
def test_ten_objects_leak():
    LEAK.extend([object() for _ in range(10)])

@pytest.mark.memprobe(max_new_blocks=0)
def test_temporary_dict():
    d = {"a": 1}
    del d

@pytest.fixture
def fix():
    return 5

@pytest.mark.memprobe(max_new_blocks=0)
def test_keyword_only_fixture(*, fix):
    assert fix == 5

class Leaky:
    def __init__(self):
        self.me = self

    def __del__(self):
        LEAK.append([[i] for i in range(1000)])

@pytest.mark.memprobe(max_new_blocks=100)
def test_leak_in_the_finalizer_of_garbage():
    Leaky()
'''


@needs_counted_blocks
def test_marker_passes_an_empty_test_at_zero_blocks_and_catches_ten_leaked_objects(pytester):
    """The marker's own readings are left out of what it measures, so an
    empty or clean test grows by nothing (before 3.11, less the frame a
    function's first call keeps), ten leaked objects are ten blocks too
    many, and a leak made by the finalizer of the test's garbage counts."""
    pytester.makepyfile(MARKER_BOUNDS)
    result = pytester.runpytest_subprocess("-v", "-p", "no:randomly")
    result.stdout.fnmatch_lines([
        "*test_empty PASSED*",
        "*test_empty_again PASSED*",
        "*test_ten_objects_leak FAILED*",
        "*test_temporary_dict PASSED*",
        "*test_keyword_only_fixture PASSED*",
        "*test_leak_in_the_finalizer_of_garbage FAILED*",
    ])
    result.stdout.fnmatch_lines(["*memprobe: allocated blocks grew by *, allowed 0*"])


MARKER_COLLECTIONS = '''
import gc
import pytest

real, calls, per_test = gc.collect, [], {}

def counting(*args):
    calls.append(1)
    return real(*args)

gc.collect = counting

@pytest.fixture(autouse=True)
def count(request):
    start = len(calls)
    yield
    per_test[request.node.name] = len(calls) - start

@pytest.mark.memprobe(max_new_blocks=0)
def test_empty():
    pass

@pytest.mark.memprobe(max_new_blocks=10_000)
def test_churn():
    for i in range(1000):
        (i, [i], {i: i}, float(i))

LEAK = []

@pytest.mark.memprobe(max_new_blocks=0)
def test_leak():
    LEAK.extend(object() for _ in range(10))

def test_zz_report():
    print("COLLECTIONS", " ".join(f"{name}={n}" for name, n in sorted(per_test.items())))
'''


@needs_counted_blocks
def test_the_marker_collects_before_and_after_the_test_and_no_more(pytester):
    """A collection costs milliseconds on a large heap: the marker runs two,
    one before the test (older garbage is not freed inside it) and one
    after (the test's garbage is collected and its finalizers run before
    the test is judged), whether the test passes or not."""
    pytester.makepyfile(MARKER_COLLECTIONS)
    result = pytester.runpytest_subprocess("-v", "-s", "-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*COLLECTIONS test_churn=2 test_empty=2 test_leak=2*"])


def _full_collections(check, monkeypatch):
    """How many times check() called gc.collect().  Counted by wrapping the
    function, in place: gc.callbacks would do (on 3.15 a callback's first
    call leaves blocks behind, which the check would then measure)."""
    real, calls = gc.collect, [0]

    def counting(*args):
        calls[0] += 1
        return real(*args)

    monkeypatch.setattr(gc, "collect", counting)
    try:
        check()
    finally:
        monkeypatch.setattr(gc, "collect", real)
    return calls[0]


PASSING_CHECKS = {
    "assert_no_refcount_leak": lambda: testing.assert_no_refcount_leak(clean, LEAK, runs=5),
    "assert_blocks_stable": lambda: testing.assert_blocks_stable(clean, runs=4, tolerance=5),
    "assert_no_new_arenas": lambda: testing.assert_no_new_arenas(clean, runs=3),
}


@pytest.mark.parametrize("name", sorted(PASSING_CHECKS))
def test_a_passing_check_runs_at_most_one_full_collection(name, monkeypatch):
    """Collections cost milliseconds on a large heap: a check that passes
    runs one, and builds no snapshot for a message it does not print."""
    if name == "assert_no_new_arenas" and not PYMALLOC_SERVING:
        pytest.skip("needs pymalloc")
    if name == "assert_blocks_stable" and not BLOCKS_COUNTED:
        pytest.skip("sys.getallocatedblocks() counts nothing here")
    assert _full_collections(PASSING_CHECKS[name], monkeypatch) <= 1


@needs_counted_blocks
def test_a_failing_check_still_tells_garbage_from_a_leak():
    """Cycles are garbage, not a leak: the recheck with collections passes
    them; a real leak fails with the diff of further calls."""
    def cycle():
        a = []
        a.append(a)

    testing.assert_blocks_stable(cycle, runs=4, tolerance=0)
    with pytest.raises(AssertionError, match="memprobe diff over 4 more call"):
        testing.assert_blocks_stable(leaking, runs=4)


@needs_counted_blocks
def test_a_check_of_a_function_that_makes_cycles_passes_with_two_collections(monkeypatch):
    class Node:
        pass

    def cycles():
        for _ in range(10):
            a = Node()
            a.me = a

    # Ten cycles a call are more garbage per run than the tolerance (so the
    # paused runs all grow), and a few blocks the interpreter itself may
    # keep across collections (3.15) stay within it.
    check = lambda: testing.assert_blocks_stable(cycles, runs=20, tolerance=5)  # noqa: E731
    assert _full_collections(check, monkeypatch) <= 2


UNCOUNTED_TESTS = '''
import pytest

LEAK = []

@pytest.mark.memprobe(max_new_blocks=0)
def test_marker_cannot_count():
    LEAK.append(object())

def test_fixture_cannot_count(memprobe):
    memprobe.assert_blocks_stable(lambda: LEAK.append(object()))
'''


@pytest.mark.skipif(FREE_THREADED, reason="free-threaded builds run mimalloc only, whose blocks are counted")
def test_block_checks_refuse_where_the_interpreter_counts_no_blocks(pytester, monkeypatch):
    """Under PYTHONMALLOC=malloc sys.getallocatedblocks() is always 0, so a
    block check could never fail: the marker skips the test before it runs,
    saying why, and assert_blocks_stable raises PymallocUnavailable."""
    monkeypatch.setenv("PYTHONMALLOC", "malloc")
    pytester.makepyfile(UNCOUNTED_TESTS)
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=1, failed=1)
    result.stdout.fnmatch_lines([
        "*PymallocUnavailable: assert_blocks_stable() needs sys.getallocatedblocks()*",
        "*memprobe(max_new_blocks=...) needs sys.getallocatedblocks(), which counts only*",
    ])
