"""What the tests share: facts about the interpreter running them, one way to
start a fresh interpreter, and the script that runs code in a subinterpreter.

The build facts come from sys and sysconfig, not from memprobe, so that tests
can compare memprobe's answers with them.  INFO is memprobe's own view of the
interpreter, read once; tests use it to decide what applies here (which
allocator serves, which collector runs), never as the expected answer for
interpreter() itself.

Test modules import from here (``from _support import ...``); no test module
imports another.
"""
import os
import subprocess
import sys
import sysconfig
import textwrap

import pytest

import memprobe

# ---- build facts ------------------------------------------------------------------------

VERSION = sys.version_info[:2]
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
DEBUG_BUILD = bool(sysconfig.get_config_var("Py_DEBUG")) or hasattr(sys, "gettotalrefcount")
# Compiled in and usable: free-threaded builds compile pymalloc in but never use it.
PYMALLOC_BUILT = bool(sysconfig.get_config_var("WITH_PYMALLOC")) and not FREE_THREADED
HAVE_GC_FLAG = 1 << 14  # Py_TPFLAGS_HAVE_GC

# ---- what memprobe says applies here ------------------------------------------------------

INFO = memprobe.interpreter()
REGIME = INFO.gc_regime
PYMALLOC_SERVING = INFO.allocator.startswith("pymalloc")
ON_MIMALLOC = INFO.allocator in ("mimalloc", "mimalloc_debug")
# 3.12+: pymalloc's state is read directly, so arenas() and block_info() exist.
DIRECT = VERSION >= (3, 12)
# The pymalloc_debug layer adds 3 words to every block.
DEBUG_EXTRA = 24 if INFO.allocator == "pymalloc_debug" else 0

# Whose blocks block_census() reads here: pymalloc's state is reachable
# from 3.12; mimalloc's pages from 3.13, where other threads can be paused
# (free-threaded builds export that call from 3.14).
CENSUS_ALLOCATOR = ("pymalloc" if DIRECT and PYMALLOC_SERVING
                    else "mimalloc" if ON_MIMALLOC and (not FREE_THREADED or VERSION >= (3, 14))
                    else None)

# sys.getallocatedblocks() counts pymalloc's blocks (mimalloc's from 3.13)
# and reports 0 under any other allocator: memprobe says None there.
BLOCKS_COUNTED = memprobe._memprobe._allocated_blocks() is not None

needs_free_threading = pytest.mark.skipif(not FREE_THREADED, reason="free-threaded builds only")
needs_pymalloc = pytest.mark.skipif(not PYMALLOC_SERVING, reason=f"pymalloc is not the allocator ({INFO.allocator})")
needs_mimalloc = pytest.mark.skipif(not ON_MIMALLOC, reason=f"the allocator is {INFO.allocator}")
needs_counted_blocks = pytest.mark.skipif(
    not BLOCKS_COUNTED, reason=f"sys.getallocatedblocks() counts nothing under {INFO.allocator}")


def describe_build():
    """One line for pytest's report header."""
    kind = "free-threaded" if INFO.free_threaded else "GIL"
    debug = "debug" if INFO.debug_build else "release"
    return (
        f"memprobe on CPython {sys.version.split()[0]} ({debug}, {kind}), "
        f"allocator {INFO.allocator}, GC {INFO.gc_regime}, "
        f"Py_GIL_DISABLED={sysconfig.get_config_var('Py_GIL_DISABLED')}"
    )


# ---- fresh interpreters ---------------------------------------------------------------------

INHERIT = "inherit this process's PYTHONMALLOC and PYTHONTRACEMALLOC"


def run_python(*args, pythonmalloc=INHERIT, xoptions=(), env_extra=None, stderr_to_stdout=False,
               timeout=120, check=False, cwd=None):
    """Run ``sys.executable [-X opt]... *args`` in a fresh process and return
    the CompletedProcess, with text stdout and stderr.

    The environment is this process's.  When ``pythonmalloc`` is given,
    PYTHONMALLOC and PYTHONTRACEMALLOC are removed first and PYTHONMALLOC is
    set to it (``None``: the build's default allocator, untraced);
    ``env_extra`` is added last.  It runs in ``cwd`` (default: this
    process's).  With ``stderr_to_stdout`` both streams arrive, interleaved,
    in ``stdout``.  A process still running after
    ``timeout`` seconds fails the test (subprocess.TimeoutExpired) rather
    than hanging it; with ``check``, so does a non-zero exit status, showing
    the end of the output.
    """
    env = dict(os.environ)
    if pythonmalloc is not INHERIT:
        env.pop("PYTHONMALLOC", None)
        env.pop("PYTHONTRACEMALLOC", None)
        if pythonmalloc is not None:
            env["PYTHONMALLOC"] = pythonmalloc
    env.update(env_extra or {})
    cmd = [sys.executable] + [a for opt in xoptions for a in ("-X", opt)] + list(args)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if stderr_to_stdout else subprocess.PIPE,
                          text=True, env=env, timeout=timeout, cwd=cwd)
    if check:
        output = proc.stdout + (proc.stderr or "")
        assert proc.returncode == 0, f"exit status {proc.returncode}:\n{output[-3000:]}"
    return proc


def run_code(code, *extra_argv, **kwargs):
    """``python -c code [extra_argv]``; code is dedented.  Keywords as run_python."""
    return run_python("-c", textwrap.dedent(code), *extra_argv, **kwargs)


def run_memprobe(*args, **kwargs):
    """``python -m memprobe *args`` (the command line).  Keywords as run_python."""
    return run_python("-m", "memprobe", *args, **kwargs)


# ---- subinterpreters ---------------------------------------------------------------------

SUBINTERPRETERS = VERSION >= (3, 12)  # isolated subinterpreters, each with its own GIL and state

# A main-interpreter script: runs sys.argv[1] in a new isolated
# subinterpreter, fails if it raised, then destroys it.
RUN_IN_SUBINTERPRETER = textwrap.dedent(
    """
    import sys
    code = sys.argv[1]
    try:
        from concurrent import interpreters          # 3.14+
        interp = interpreters.create()
        interp.exec(code)
        interp.close()
    except ImportError:
        try:
            import _interpreters as low              # 3.13
        except ImportError:
            import _xxsubinterpreters as low         # 3.12
        iid = low.create()
        failure = low.run_string(iid, code) if hasattr(low, "run_string") else low.exec(iid, code)
        if failure is not None:
            raise SystemExit(f"subinterpreter failed: {failure}")
        low.destroy(iid)
    """
)


def run_in_subinterpreter(code, main_before="", main_after="", timeout=120):
    """Run ``code`` in a subinterpreter of a fresh process; ``main_before``
    and ``main_after`` run in that process's main interpreter around it.
    A non-zero exit fails the test; returns the CompletedProcess (stderr in
    stdout)."""
    script = textwrap.dedent(main_before) + RUN_IN_SUBINTERPRETER + textwrap.dedent(main_after)
    return run_python("-c", script, textwrap.dedent(code), stderr_to_stdout=True, timeout=timeout, check=True)
