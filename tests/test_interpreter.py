"""memprobe.interpreter(): the running interpreter as memprobe sees it.

Every field is checked against what sys, sysconfig and gc say, and the
allocator name under each PYTHONMALLOC mode in a fresh subprocess.
"""
import os
import re
import sys

import pytest

import memprobe
from memprobe import _memprobe
from _support import DEBUG_BUILD, FREE_THREADED, INFO, PYMALLOC_BUILT, run_code


def test_version_is_the_runtime_version():
    assert INFO.version == tuple(sys.version_info[:3])
    assert INFO.hexversion == sys.hexversion
    assert INFO.compiled_hexversion >> 16 == sys.hexversion >> 16


def test_build_kind_agrees_with_sysconfig():
    assert INFO.debug_build == DEBUG_BUILD
    assert INFO.free_threaded == FREE_THREADED


def test_gil_enabled_agrees_with_sys():
    expected = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
    assert INFO.gil_enabled == expected


def test_layout_checks_passed_on_this_interpreter():
    assert INFO.layout_problems == {}
    assert _memprobe._layout_problems() == {}


def test_result_is_frozen_and_hashable():
    with pytest.raises(Exception):
        INFO.allocator = "x"  # type: ignore[misc]
    assert hash(INFO) == hash(memprobe.interpreter())
    assert memprobe.interpreter() == INFO


# ---- GC regime -------------------------------------------------------------

def hexversion(major, minor, micro, level=0xF, serial=0):
    return (major << 24) | (minor << 16) | (micro << 8) | (level << 4) | serial


@pytest.mark.parametrize("micro", range(0, 5))
def test_314_patches_0_to_4_ran_the_incremental_collector(micro):
    assert _memprobe._gc_regime_for(hexversion(3, 14, micro), False) == "incremental"


@pytest.mark.parametrize("micro", range(5, 30))
def test_314_patches_from_5_are_generational_again(micro):
    assert _memprobe._gc_regime_for(hexversion(3, 14, micro), False) == "generational"


@pytest.mark.parametrize("version", [(3, 9, 18), (3, 12, 1), (3, 13, 0), (3, 13, 9), (3, 15, 0), (3, 15, 2), (3, 16, 0)])
def test_other_versions_are_generational(version):
    assert _memprobe._gc_regime_for(hexversion(*version), False) == "generational"


def test_314_prereleases_count_as_incremental():
    assert _memprobe._gc_regime_for(hexversion(3, 14, 0, 0xA, 1), False) == "incremental"
    assert _memprobe._gc_regime_for(hexversion(3, 14, 0, 0xC, 3), False) == "incremental"


@pytest.mark.parametrize("version", [(3, 13, 0), (3, 14, 2), (3, 14, 7), (3, 15, 1)])
def test_free_threaded_builds_have_their_own_regime(version):
    assert _memprobe._gc_regime_for(hexversion(*version), True) == "free-threaded"


def test_running_regime_is_decided_from_the_runtime_version():
    assert INFO.gc_regime == _memprobe._gc_regime_for(sys.hexversion, FREE_THREADED)


# ---- pymalloc constants ------------------------------------------------------

@pytest.mark.skipif(not PYMALLOC_BUILT, reason="pymalloc is not compiled in")
def test_pymalloc_constants_agree_with_debugmallocstats():
    text = run_code("import sys; sys._debugmallocstats()", pythonmalloc=None, check=True).stderr
    constants = INFO.pymalloc
    assert constants is not None
    threshold, classes = map(int, re.search(r"Small block threshold = (\d+), in (\d+) size classes", text).groups())
    assert constants.small_request_threshold == threshold
    assert constants.size_classes == classes
    assert constants.arena_size == int(re.search(r"\d+ arenas \* (\d+) bytes/arena", text).group(1))
    assert constants.pool_size == int(re.search(r"\d+ unused pools \* (\d+) bytes", text).group(1))
    assert constants.alignment * constants.size_classes == constants.small_request_threshold
    if INFO.allocator in ("pymalloc", "pymalloc_debug"):
        assert constants.verified


@pytest.mark.skipif(not PYMALLOC_BUILT, reason="pymalloc is not compiled in")
def test_pymalloc_sizes_by_version():
    constants = INFO.pymalloc
    assert constants is not None
    if sys.version_info < (3, 10):
        assert (constants.arena_size, constants.pool_size) == (256 * 1024, 4 * 1024)
    else:
        assert (constants.arena_size, constants.pool_size) == (1024 * 1024, 16 * 1024)


# ---- allocator names, each in a fresh interpreter ------------------------------

def allocator_in_subprocess(pythonmalloc=None, xoptions=()):
    """(allocator name, constants verified, _debugmallocstats printed a report)
    in a fresh interpreter started with PYTHONMALLOC / -X options."""
    code = (
        "import sys, memprobe; i = memprobe.interpreter(); "
        "print(i.allocator, bool(i.pymalloc and i.pymalloc.verified)); "
        "sys._debugmallocstats()"
    )
    proc = run_code(code, pythonmalloc=pythonmalloc, xoptions=xoptions, check=True)
    allocator, verified = proc.stdout.split()
    return allocator, verified == "True", "Small block threshold" in proc.stderr


def test_default_allocator():
    expected = "pymalloc_debug" if DEBUG_BUILD else "pymalloc"
    if FREE_THREADED:
        expected = "mimalloc_debug" if DEBUG_BUILD else "mimalloc"
    allocator, verified, printed = allocator_in_subprocess()
    assert allocator == expected
    assert verified == (PYMALLOC_BUILT and not FREE_THREADED)
    assert printed  # pymalloc's report, or mimalloc's own on free-threaded builds
    if not os.environ.get("PYTHONMALLOC"):
        assert INFO.allocator in (expected, "hooked")


@pytest.mark.skipif(FREE_THREADED, reason="free-threaded builds always use mimalloc")
@pytest.mark.parametrize(
    "mode,expected",
    [
        ("malloc", "malloc"),
        ("malloc_debug", "malloc_debug"),
        ("pymalloc", "pymalloc"),
        ("pymalloc_debug", "pymalloc_debug"),
        ("debug", "pymalloc_debug"),
    ],
)
def test_allocator_under_pythonmalloc(mode, expected):
    if not PYMALLOC_BUILT and "pymalloc" in expected:
        pytest.skip("pymalloc is not compiled in")
    allocator, verified, printed = allocator_in_subprocess(mode)
    assert allocator == expected
    # The constants are verified exactly when the interpreter's own report
    # exists to verify them against: never under malloc.
    assert verified == printed == ("pymalloc" in expected)


def test_tracemalloc_hooks_report_hooked():
    allocator, verified, printed = allocator_in_subprocess(xoptions=["tracemalloc"])
    assert allocator == "hooked"
    if FREE_THREADED:
        # mimalloc's report does not depend on the hooks; nothing to verify.
        assert printed and not verified
        return
    # Release builds print no report while hooks are installed; debug builds
    # still do (their debug layer sits between the hooks and pymalloc).
    assert verified == printed
    if not DEBUG_BUILD:
        assert not printed


@pytest.mark.skipif(not FREE_THREADED, reason="free-threaded builds only")
def test_free_threaded_build_reports_mimalloc_no_pymalloc_and_no_layout_problems():
    assert INFO.allocator in ("mimalloc", "mimalloc_debug")
    assert INFO.pymalloc is None   # compiled in, never used
    assert INFO.gc_regime == "free-threaded" and INFO.free_threaded
    assert INFO.layout_problems == {}
