"""memprobe's errors: a small typed hierarchy, and clear errors on bad input.

MemprobeError is the base of everything memprobe raises on purpose;
UnsupportedInterpreter means a part of the interpreter failed its import-time
layout check, and names the interpreter and the reason.
"""
import sys

import pytest

import memprobe
from memprobe import _memprobe


def test_hierarchy():
    assert issubclass(memprobe.MemprobeError, Exception)
    assert issubclass(memprobe.UnsupportedInterpreter, memprobe.MemprobeError)
    assert memprobe.UnsupportedInterpreter.__module__ == "memprobe"


@pytest.mark.parametrize("probe", [memprobe.refcount, memprobe.refinfo])
def test_wrong_arity_is_a_type_error(probe):
    with pytest.raises(TypeError):
        probe()
    with pytest.raises(TypeError):
        probe(1, 2)
    with pytest.raises(TypeError):
        probe(obj=1)


def test_interpreter_takes_no_arguments():
    with pytest.raises(TypeError):
        memprobe.interpreter(1)  # type: ignore[call-arg]


@pytest.fixture
def failed_part():
    """Simulate a failed import-time layout check, then restore."""
    parts = []

    def fail(part, why):
        parts.append(part)
        _memprobe._set_layout_problem(part, why)

    yield fail
    for part in parts:
        _memprobe._set_layout_problem(part, None)
    assert _memprobe._layout_problems() == {}


def test_failed_refcount_check_makes_refcount_probes_raise(failed_part):
    failed_part("refcount", "simulated field mismatch")
    for probe in (memprobe.refcount, memprobe.refinfo):
        with pytest.raises(memprobe.UnsupportedInterpreter) as excinfo:
            probe(object())
        message = str(excinfo.value)
        assert "simulated field mismatch" in message
        assert sys.version.split()[0] in message
        assert "refcount" in message
    # Other facts stay available and say what failed.
    assert memprobe.interpreter().layout_problems == {"refcount": "simulated field mismatch"}


def test_unrelated_part_failing_leaves_refcount_working(failed_part):
    failed_part("gc", "simulated threshold mismatch")
    probe, expected = memprobe.refcount(None), sys.getrefcount(None)
    assert probe == expected


def test_version_mismatch_fails_every_part(failed_part):
    failed_part("version", "compiled for CPython 3.12 but running on 3.13")
    with pytest.raises(memprobe.UnsupportedInterpreter, match="compiled for CPython 3.12"):
        memprobe.refcount(1)


def test_version_check_compares_major_and_minor_only():
    assert _memprobe._version_problem(0x030C01F0, 0x030C07F0) is None
    assert _memprobe._version_problem(0x030E0AF0, 0x030E00F0) is None
    problem = _memprobe._version_problem(0x030C01F0, 0x030D00F0)
    assert problem == "compiled for CPython 3.12 but running on 3.13"


def test_layout_problem_hook_rejects_non_strings():
    with pytest.raises(TypeError):
        _memprobe._set_layout_problem("refcount", 42)


GC_PROBES = [
    lambda: memprobe.generation([]),
    lambda: memprobe.gcinfo([]),
    lambda: memprobe.generations([[]]),
    memprobe.gc_state,
    memprobe.census,
]


@pytest.mark.parametrize("probe", GC_PROBES, ids=["generation", "gcinfo", "generations", "gc_state", "census"])
def test_failed_gc_check_makes_every_gc_probe_raise(failed_part, probe):
    failed_part("gc", "simulated threshold mismatch")
    with pytest.raises(memprobe.UnsupportedInterpreter, match="cannot read gc.*simulated threshold mismatch"):
        probe()


def test_failed_pymalloc_check_makes_pymalloc_probes_raise(failed_part):
    failed_part("pymalloc", "simulated constants mismatch")
    for probe in (memprobe.pymalloc, memprobe.arenas, lambda: memprobe.block_info([])):
        with pytest.raises(memprobe.UnsupportedInterpreter, match="simulated constants mismatch"):
            probe()
    young = memprobe.Generation.TRACKED if memprobe.interpreter().free_threaded else 0
    assert memprobe.generation([]) == young  # the collector's probes are unaffected


# ---- bad input gets a clear TypeError/ValueError ---------------------------------------------

def test_census_top_larger_than_any_count_keeps_every_type():
    """top=2**64 is a valid, if generous, limit (it once raised OverflowError)."""
    census = memprobe.census(top=2**64)
    assert sum(census.by_type.values()) == census.total


def test_arena_map_title_must_be_a_string():
    with pytest.raises(TypeError, match="title must be a str"):
        memprobe.ArenaMap().to_svg(title=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["mimalloc_classes", "size_classes"])
def test_a_malformed_saved_diff_is_a_value_error(field):
    data = (memprobe.snapshot() - memprobe.snapshot()).to_dict()
    data[field] = [[]]
    with pytest.raises(ValueError, match="not a memprobe diff"):
        memprobe.SnapshotDiff.from_dict(data)


def test_leak_checks_refuse_zero_runs():
    from memprobe import testing

    for check in (testing.assert_blocks_stable, testing.assert_no_new_arenas):
        with pytest.raises(ValueError, match="runs must be at least 1"):
            check(lambda: None, runs=0)
    with pytest.raises(ValueError, match="runs must be at least 1"):
        testing.assert_no_refcount_leak(lambda: None, [], runs=0)


# ---- an import-time check that cannot run ----------------------------------------------------

def test_a_check_that_cannot_run_marks_its_part_and_the_import_succeeds():
    """The program replaced gc.get_threshold with a function that raises:
    importing memprobe still works, the gc part is marked, other parts work."""
    from _support import run_code

    proc = run_code("""
        import gc, sys
        gc.get_threshold = lambda: 1 / 0
        import memprobe
        print(memprobe.interpreter().layout_problems)
        print(memprobe.refcount(sys) == sys.getrefcount(sys))
        try:
            memprobe.gc_state()
        except memprobe.UnsupportedInterpreter as exc:
            print("refused:", exc)
    """, stderr_to_stdout=True)
    assert proc.returncode == 0, proc.stdout
    problems, refcount_ok, refused = proc.stdout.splitlines()
    assert "'gc': \"the import-time check could not run: ZeroDivisionError('division by zero')\"" in problems
    assert refcount_ok == "True"
    assert refused.startswith("refused: memprobe cannot read gc on CPython")


class BadSize:
    def __sizeof__(self):
        raise RuntimeError("no size")


class WrongSize:
    def __sizeof__(self):
        return "big"


@pytest.mark.parametrize("obj", [BadSize(), WrongSize()], ids=["raises", "not an int"])
def test_an_object_whose_sizeof_fails_is_still_valid_input(obj):
    explained = memprobe.explain(obj)
    assert "its own __sizeof__ fails" in str(explained) and explained.getsizeof is None
    try:
        info = memprobe.block_info(obj)
    except (memprobe.PymallocUnavailable, memprobe.UnsupportedInterpreter):
        return
    assert info.getsizeof is None


@pytest.mark.parametrize("call", [
    lambda: memprobe.snapshot(census="no"), lambda: memprobe.snapshot(frozen=1),
    lambda: memprobe.census(frozen="yes"), lambda: memprobe.gc_state(frozen=None),
], ids=["snapshot census", "snapshot frozen", "census frozen", "gc_state frozen"])
def test_yes_no_arguments_must_be_bools(call):
    with pytest.raises(TypeError, match="must be True or False"):
        call()


@pytest.mark.skipif(memprobe.interpreter().free_threaded or memprobe.interpreter().pymalloc is None,
                    reason="pymalloc's report is checked only where pymalloc is built in")
def test_an_allocator_report_that_cannot_be_captured_does_not_fail_the_import():
    """No stream for the interpreter's report at import (no file descriptor
    left, say): the pymalloc part is marked, the import succeeds, and so
    does every pytest run that loads the plugin."""
    from _support import run_code

    proc = run_code("""
        import importlib.util, memprobe
        memprobe._memprobe._fail_report_captures(1)
        spec = importlib.util.find_spec("memprobe._memprobe")
        fresh = importlib.util.module_from_spec(spec)     # runs the import-time checks again
        spec.loader.exec_module(fresh)
        print(fresh._layout_problems())
        print(fresh.refcount(memprobe) > 0)
    """, stderr_to_stdout=True, pythonmalloc="pymalloc")
    assert proc.returncode == 0, proc.stdout
    problems, refcount_ok = proc.stdout.splitlines()
    assert "'pymalloc': \"the import-time check could not run: OSError(24, 'Too many open files')\"" in problems
    assert refcount_ok == "True"


def test_a_replaced_sys_getallocatedblocks_is_never_called_by_a_probe():
    """memprobe reads the count through sys's own definition: a program
    that replaced sys.getallocatedblocks before importing memprobe does not
    have its function run by a probe, and the count is the real one."""
    from _support import run_code

    proc = run_code("""
        import sys
        real = sys.getallocatedblocks
        def replaced():
            raise RuntimeError("user code ran inside a probe")
        sys.getallocatedblocks = replaced
        import memprobe
        from memprobe import _memprobe
        snap = memprobe.snapshot(census=False)
        print(type(snap.allocated_blocks).__name__ if real() else "uncounted", _memprobe._allocated_blocks() is None,
              real() == 0)
        try:
            print(type(_memprobe._pymalloc_with_report()).__name__)
        except memprobe.PymallocUnavailable:     # free-threaded builds
            print("tuple")
    """, stderr_to_stdout=True)
    assert proc.returncode == 0, proc.stdout
    first, second = proc.stdout.splitlines()
    assert first in ("int False False", "uncounted True True") and second == "tuple"


def test_type_names_run_no_code_of_a_module_attribute_that_is_not_a_str():
    """A class whose __module__ is an object with a __class__ property:
    naming it (snapshots do) asks no question of that object."""
    class Evil:
        @property
        def __class__(self):
            raise RuntimeError("user code ran inside the probe")

    class U:
        pass

    U.__module__ = Evil()
    kept = U()
    snap = memprobe.snapshot()
    assert snap.objects_by_type["?.test_type_names_run_no_code_of_a_module_attribute_that_is_not_a_str.<locals>.U"] == 1
    del kept
