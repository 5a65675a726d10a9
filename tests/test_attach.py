"""attach(pid): another process's collector, read from outside.

Each target is a real process of this same interpreter with a known heap
and collector state.  It stops itself (SIGSTOP); memprobe reads it; once
resumed, the target's first statements read its own collector with gc's
functions (before anything else is allocated, so they see the state as it
was while stopped) and write that view to a file.  The reading must agree
with the view exactly.
"""
import contextlib
import dataclasses
import gc
import io
import json
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time

import pytest

import memprobe
from memprobe import _attach
from _support import FREE_THREADED, PYMALLOC_SERVING
from test_schema import VALIDATE

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="attach reads other processes on Linux only"),
]

# A target: builds a heap (cycles kept alive, young lists), sets the
# collector's thresholds so that no collection runs from then on, stops
# itself, then writes its own view.
TARGET = textwrap.dedent("""
    import dataclasses, gc, json, os, random, signal, sys
    from memprobe import _memprobe
    from memprobe._snapshot import _Allocators

    class Node:
        def __init__(self):
            self.me = self

    def view(path, freeze, disable, shuffle):
        keep = [Node() for _ in range(40000 if shuffle else 3000)]
        if shuffle:
            # The collection moves each Node, which only keep holds, back
            # to the young list as it traverses keep: in random order.
            random.Random(1).shuffle(keep)
        gc.collect()
        if freeze:
            gc.freeze()
        more = [Node() for _ in range(500)]
        gc.collect(0)
        young = [[] for _ in range(123)]
        gc.set_threshold(100000, 7, 9)
        if disable:
            gc.disable()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        # The allocators read into memory made before (allocating nothing),
        # the last thing before the stop and the first after it.
        before, after, pid, stop = bytearray(1 << 17), bytearray(1 << 17), os.getpid(), signal.SIGSTOP
        # Blocks counted just before and first after (each count's own int
        # is made once it is counted).
        blocks = [0, 0]
        blocks[0] = sys.getallocatedblocks()
        _memprobe._baseline(before)
        os.kill(pid, stop)
        _memprobe._baseline(after)
        blocks[1] = sys.getallocatedblocks()
        # Resumed: read before anything is allocated.  The counts first:
        # a list get_objects() makes may come from no free list and go to
        # one, a count up and none down.  Each tuple or list a read makes
        # is gone before the next read.
        c0, c1, c2 = gc.get_count()
        n0 = len(gc.get_objects(0))
        n1 = len(gc.get_objects(1))
        n2 = len(gc.get_objects(2))
        t0, t1, t2 = gc.get_threshold()
        frozen = gc.get_freeze_count()
        enabled = gc.isenabled()
        pymalloc = [_Allocators(r).pymalloc for r in (before, after)]
        mimalloc = [_Allocators(r).mimalloc for r in (before, after)]
        os.write(fd, json.dumps({"lengths": [n0, n1, n2], "counts": [c0, c1, c2], "thresholds": [t0, t1, t2],
                                 "frozen": frozen, "enabled": enabled, "blocks": blocks,
                                 "pymalloc": [p and dataclasses.asdict(p) for p in pymalloc],
                                 "mimalloc": [m and [list(c) for c in m.size_classes]
                                              for m in mimalloc]}).encode())
        os.close(fd)
        return keep, more, young

    view(sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4] == "1")
""")


def _wait_stopped(process, timeout=30.0):
    deadline = time.monotonic() + timeout
    while _attach._process_state(process.pid) != "T":
        assert process.poll() is None, "the target exited before it stopped"
        assert time.monotonic() < deadline, "the target did not stop"
        time.sleep(0.005)


def _start(tmp_path, freeze=False, disable=False, env=None, shuffle=False, prelude=""):
    view = tmp_path / "view.json"
    process = subprocess.Popen([sys.executable, "-c", prelude + TARGET, str(view), str(int(freeze)),
                                str(int(disable)), str(int(shuffle))], env=env)
    _wait_stopped(process)
    return process, view


def _finish(process, view):
    os.kill(process.pid, signal.SIGCONT)
    assert process.wait(timeout=60) == 0
    return json.loads(view.read_text())


needs_gil = pytest.mark.skipif(FREE_THREADED, reason="lengths, census and pymalloc need a GIL build's lists and "
                                                     "arenas (free-threaded targets: tested below)")

# Whether a target of this interpreter names where its pymalloc state is:
# 3.12+ keeps it in the interpreter; 3.9-3.11 in obmalloc.c's statics,
# which only an unstripped build's symbol table names (pyenv's are).
NAMED = not _attach._STATICS or (sys.platform.startswith("linux")
                                 and set(_attach._STATICS) <= set(_attach._find_runtime(0).elf.statics))
OUTSIDE = PYMALLOC_SERVING and NAMED
needs_outside = pytest.mark.skipif(not OUTSIDE, reason="pymalloc read from outside: pymalloc serving, and before "
                                                       "3.12 an unstripped build")


@needs_gil
@pytest.mark.parametrize("freeze, disable, shuffle", [(False, False, False), (True, False, False),
                                                      (False, True, False), (False, False, True)],
                         ids=["young", "frozen", "disabled", "shuffled"])
def test_a_stopped_target_is_read_exactly_as_it_sees_itself(tmp_path, freeze, disable, shuffle):
    """Also when a collection has shuffled 40,000 objects' order against
    their addresses: the walk then meets their pages in any order, and its
    page cache grows (emptied each time) until they fit."""
    process, view = _start(tmp_path, freeze, disable, shuffle=shuffle)
    try:
        remote = memprobe.attach(process.pid)
    finally:
        seen = _finish(process, view)
    assert isinstance(remote, memprobe.RemoteSnapshot)
    assert remote.pid == process.pid and remote.stopped
    assert remote.version == platform.python_version()
    assert remote.partial is None
    gc_state = remote.gc
    assert [g.length for g in gc_state.generations] == seen["lengths"]
    assert [g.count for g in gc_state.generations] == seen["counts"]
    assert [g.threshold for g in gc_state.generations] == seen["thresholds"] == [100000, 7, 9]
    assert gc_state.permanent_length == seen["frozen"]
    assert gc_state.enabled == seen["enabled"] == (not disable)
    assert not gc_state.collecting
    assert gc_state.regime == memprobe.gc_state().regime
    assert remote.tracked_objects == sum(seen["lengths"])
    assert remote.mimalloc is None and "GIL build" in remote.mimalloc_missing
    if freeze:
        assert gc_state.permanent_length >= 3000
    assert sum(seen["lengths"]) + seen["frozen"] >= 3000 + 500 + 123


def _as_json(result):
    return json.loads(json.dumps(dataclasses.asdict(result)))


@needs_gil
@pytest.mark.parametrize("freeze", [False, True])
def test_a_stopped_targets_pymalloc_is_read_exactly_as_it_sees_itself(tmp_path, freeze):
    """Every field of pymalloc() as the target read it just before it
    stopped or just after it resumed (arenas, pools, blocks and bytes per
    size class, allocator): 3.12 under tracemalloc once freed a block
    between the first reading and the stop, depending on the hash seed."""
    process, view = _start(tmp_path, freeze)
    try:
        remote = memprobe.attach(process.pid)
    finally:
        seen = _finish(process, view)
    if not OUTSIDE:
        assert remote.pymalloc is None and remote.fragmentation is None
        assert ("stripped build" if PYMALLOC_SERVING else "another allocator") in remote.pymalloc_missing
        return
    assert remote.pymalloc_missing is None
    assert remote.pymalloc.blocks_in_use + remote.pymalloc.raw_allocated_blocks == seen["blocks"][1]
    assert remote.pymalloc.total_bytes == remote.pymalloc.arenas_current * remote.pymalloc.arena_size
    # Before 3.12 the target reads its own from its printed report, the
    # reading from outside walks its arenas: every number the same.
    assert remote.pymalloc.source == "obmalloc-state"
    assert _as_json(remote.pymalloc) in [dict(p, source="obmalloc-state") for p in seen["pymalloc"]]
    assert remote.pymalloc.allocator == memprobe.interpreter().allocator
    assert remote.pymalloc.blocks_in_use > 3500
    # The fragmentation of the same arenas, as fragmentation() reads them.
    f = remote.fragmentation
    assert f.arenas == remote.pymalloc.arenas_current
    assert f.live_bytes == remote.pymalloc.bytes_in_allocated_blocks
    assert f.empty_pool_bytes == remote.pymalloc.bytes_in_unused_pools


@needs_gil
@needs_outside
@pytest.mark.parametrize("setting, allocator, hooked, debug", [
    ({"PYTHONTRACEMALLOC": "1"}, "hooked", True, None),
    ({"PYTHONMALLOC": "pymalloc_debug"}, "pymalloc_debug", False, True),
], ids=["tracemalloc", "pymalloc_debug"])
def test_the_targets_allocator_is_named_as_inside(tmp_path, setting, allocator, hooked, debug):
    """tracemalloc's hooks wrap pymalloc: still read, and said to be
    hooked; the debug layer is seen in the blocks themselves.  Before 3.12
    a hooked process cannot tell that pymalloc is under the hooks, so it
    has no view of its own: its count of blocks is compared."""
    process, view = _start(tmp_path, env=dict(os.environ, **setting))
    try:
        remote = memprobe.attach(process.pid)
    finally:
        seen = _finish(process, view)
    assert remote.pymalloc.blocks_in_use + remote.pymalloc.raw_allocated_blocks == seen["blocks"][1]
    if seen["pymalloc"] != [None, None] or sys.version_info >= (3, 12):
        assert _as_json(remote.pymalloc) in [dict(p, source="obmalloc-state") for p in seen["pymalloc"]]
    assert remote.pymalloc.allocator == allocator and remote.pymalloc.hooks_installed == hooked
    if debug is not None:
        assert remote.pymalloc.debug_layer == debug


# A hook that passes NULL as its context and wraps whatever serves objects:
# only its functions tell it from pymalloc's own.
NULL_CONTEXT_HOOK = """
#include <Python.h>
static PyMemAllocatorEx inner;
static void *hook_malloc(void *ctx, size_t n) { return inner.malloc(inner.ctx, n); }
static void *hook_calloc(void *ctx, size_t n, size_t size) { return inner.calloc(inner.ctx, n, size); }
static void *hook_realloc(void *ctx, void *p, size_t n) { return inner.realloc(inner.ctx, p, n); }
static void hook_free(void *ctx, void *p) { inner.free(inner.ctx, p); }
void install(void)
{
    PyMemAllocatorEx hook = {NULL, hook_malloc, hook_calloc, hook_realloc, hook_free};
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &inner);
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &hook);
}
"""
CC = (sysconfig.get_config_var("CC") or "cc").split()


@needs_gil
@needs_outside
@pytest.mark.skipif(not sys.platform.startswith("linux") or _attach._find_runtime(0).elf.object_malloc is None,
                    reason="no full symbol table names _PyObject_Malloc (a stripped build without its debug file)")
@pytest.mark.skipif(shutil.which(CC[0]) is None, reason="needs a C compiler")
def test_a_hook_with_a_null_context_is_told_by_its_functions(tmp_path):
    """pymalloc's own context is NULL, and so can a hook's be: its malloc
    is then compared with pymalloc's _PyObject_Malloc, placed through the
    target's load bias from the symbol table."""
    source, library = tmp_path / "hook.c", tmp_path / "hook.so"
    source.write_text(NULL_CONTEXT_HOOK)
    subprocess.run([*CC, "-shared", "-fPIC", "-I", sysconfig.get_paths()["include"], "-o", str(library),
                    str(source)], check=True)
    prelude = f"import ctypes\nctypes.PyDLL({str(library)!r}).install()\n"
    process, view = _start(tmp_path, prelude=prelude)
    try:
        remote = memprobe.attach(process.pid)
    finally:
        seen = _finish(process, view)
    assert remote.pymalloc.allocator == "hooked" and remote.pymalloc.hooks_installed
    assert remote.pymalloc.blocks_in_use + remote.pymalloc.raw_allocated_blocks == seen["blocks"][1]


@needs_gil
@needs_outside
def test_a_target_running_another_allocator_says_so(tmp_path):
    process, view = _start(tmp_path, env=dict(os.environ, PYTHONMALLOC="malloc"))
    try:
        remote = memprobe.attach(process.pid)
    finally:
        seen = _finish(process, view)
    assert seen["pymalloc"] == [None, None]
    assert remote.pymalloc is None and remote.fragmentation is None
    assert "another allocator" in remote.pymalloc_missing
    assert [g.length for g in remote.gc.generations] == seen["lengths"]


# A target that breaks one of its own pool headers, that of the pool a
# 400-byte bytes object sits in (obmalloc.c's pool_header: after four
# pointers, arenaindex then szidx, two unsigned ints), then stops: a
# reading must refuse the arenas, not count them.  It is killed, never
# resumed.
BROKEN_POOL = textwrap.dedent("""
    import ctypes, os, signal, struct, sys, memprobe
    keep = bytes(400)
    pool = id(keep) & ~(memprobe.pymalloc().pool_size - 1)
    field = ctypes.c_uint.from_address(pool + 4 * struct.calcsize("P") + 4 * int(sys.argv[1]))
    pid, stop = os.getpid(), signal.SIGSTOP
    field.value = 0xFFFF
    os.kill(pid, stop)
""")


@needs_gil
@needs_outside
@pytest.mark.parametrize("field", [0, 1], ids=["arenaindex", "szidx"])
def test_a_pool_that_does_not_hold_together_is_refused_not_counted(field):
    with subprocess.Popen([sys.executable, "-c", BROKEN_POOL, str(field)]) as target:
        try:
            _wait_stopped(target)
            remote = memprobe.attach(target.pid)
        finally:
            target.kill()
    assert remote.pymalloc is None and remote.fragmentation is None
    assert "a pool's header does not match its arena" in remote.pymalloc_missing
    assert "although the target was stopped" in remote.pymalloc_missing
    assert remote.partial is None and sum(g.length for g in remote.gc.generations) > 0


# Before 3.12: the file holding this interpreter's _PyRuntime, when it is
# a shared libpython (a target then loads a stripped copy of it first).
LIBPYTHON = (_attach._find_runtime(0).file if _attach._STATICS and sys.platform.startswith("linux") else None)
before_3_12 = pytest.mark.skipif(not _attach._STATICS,
                                 reason="3.12+ keeps pymalloc's state in the interpreter: no symbol names it")


@needs_gil
@needs_outside
@before_3_12
@pytest.mark.skipif(not (LIBPYTHON and "libpython" in LIBPYTHON and shutil.which("strip") and shutil.which("objcopy")),
                    reason="needs a shared libpython, strip and objcopy")
def test_before_3_12_a_stripped_build_is_read_through_its_debug_file(tmp_path, monkeypatch):
    """A target running a stripped copy of this libpython (same build id)
    has no obmalloc.c statics: refused with the reason, until its debug
    file (objcopy --only-keep-debug) sits under a DEBUG_DIRS directory as
    .build-id/xx/yyyy.debug, as distributions install them."""
    build_id = _attach._find_runtime(0).elf.build_id.hex()
    lib, debug = tmp_path / "lib", tmp_path / "debug" / ".build-id" / build_id[:2]
    lib.mkdir()
    debug.mkdir(parents=True)
    stripped_file = lib / os.path.basename(LIBPYTHON)
    subprocess.run(["strip", "--strip-all", LIBPYTHON, "-o", str(stripped_file)], check=True)
    subprocess.run(["objcopy", "--only-keep-debug", LIBPYTHON, str(debug / f"{build_id[2:]}.debug")], check=True)
    process, view = _start(tmp_path, env=dict(os.environ, LD_LIBRARY_PATH=str(lib)))
    try:
        monkeypatch.setattr(_attach, "DEBUG_DIRS", [str(tmp_path / "nothing")])
        stripped = memprobe.attach(process.pid)
        monkeypatch.setattr(_attach, "DEBUG_DIRS", [str(tmp_path / "debug")])
        remote = memprobe.attach(process.pid)
    finally:
        seen = _finish(process, view)
    assert stripped.runtime_file == remote.runtime_file == str(stripped_file)
    assert stripped.pymalloc is None and "a stripped build" in stripped.pymalloc_missing
    assert [g.length for g in stripped.gc.generations] == seen["lengths"]
    assert remote.pymalloc_missing is None
    assert _as_json(remote.pymalloc) in [dict(p, source="obmalloc-state") for p in seen["pymalloc"]]


@needs_gil
@needs_outside
@before_3_12
@pytest.mark.parametrize("change, message", [
    (lambda elf: elf._replace(statics={**elf.statics, b"maxarenas": (elf.statics[b"maxarenas"][0], 8)}),
     "maxarenas takes 8 bytes where this build's takes 4"),
    (lambda elf: elf._replace(statics={}, renamed=True), "link-time optimisation"),
], ids=["wrong size", "LTO"])
def test_before_3_12_statics_that_do_not_fit_this_build_are_refused(tmp_path, monkeypatch, change, message):
    """A target whose file names an obmalloc.c static with another size
    than this build's, or has them renamed by LTO, has its pymalloc
    refused with the reason; the collector is read all the same."""
    find = _attach._find_runtime

    def altered(pid):
        runtime = find(pid)
        return runtime._replace(elf=change(runtime.elf))

    monkeypatch.setattr(_attach, "_find_runtime", altered)
    process, view = _start(tmp_path)
    try:
        remote = memprobe.attach(process.pid)
    finally:
        seen = _finish(process, view)
    assert remote.pymalloc is None and remote.fragmentation is None
    assert message in remote.pymalloc_missing
    assert [g.length for g in remote.gc.generations] == seen["lengths"]


def _symbol_table(entries, wide):
    """An ELF symbol table of (name offset, st_info, section, value, size)."""
    return b"".join(struct.pack("<IBBHQQ", name, info, 0, section, value, size) if wide else
                    struct.pack("<IIIBBH", name, value, size, info, 0, section)
                    for name, info, section, value, size in entries)


FILE, LOCAL_OBJECT, GLOBAL_OBJECT, LOCAL_FUNC = 4, 0x01, 0x11, 0x02


@pytest.mark.parametrize("wide", [True, False], ids=["ELF64", "ELF32"])
def test_symbols_are_found_by_exact_name_and_statics_only_as_obmalloc_cs_locals(monkeypatch, wide):
    """A name stored as the tail of a longer one is found; a static of the
    same name in another file, or an undefined one, is not obmalloc.c's;
    _PyObject_Malloc, hidden, is a local function of any file's group."""
    monkeypatch.setattr(_attach, "_STATICS", (b"arenas", b"maxarenas"))
    names = b"\0other.c\0Objects/obmalloc.c\0maxarenas\0_PyRuntime\0_PyObject_Malloc\0"
    arenas = names.index(b"maxarenas") + 3          # "arenas", the tail of "maxarenas"
    entries = [(names.index(b"other.c"), FILE, 0xFFF1, 0, 0),
               (arenas, LOCAL_OBJECT, 5, 0x100, 8),
               (names.index(b"Objects/obmalloc.c"), FILE, 0xFFF1, 0, 0),
               (arenas, LOCAL_OBJECT, 5, 0x200, 8),
               (names.index(b"maxarenas"), LOCAL_OBJECT, 5, 0x208, 4),
               (names.index(b"maxarenas"), LOCAL_OBJECT, 0, 0x300, 4),
               (names.index(b"_PyRuntime"), GLOBAL_OBJECT, 5, 0x400, 1000),
               (0, FILE, 0xFFF1, 0, 0),
               (names.index(b"_PyObject_Malloc"), LOCAL_FUNC, 12, 0x500, 100)]
    into, statics = {}, {}
    renamed = _attach._symbols(_symbol_table(entries, wide), names, 24 if wide else 16, wide, into, statics)
    assert not renamed
    assert into == {b"_PyRuntime": 0x400, b"_PyObject_Malloc": 0x500}
    assert statics == {b"arenas": (0x200, 8), b"maxarenas": (0x208, 4)}
    # Two functions of that name: which is pymalloc's is not known.
    twice = entries + [(names.index(b"_PyObject_Malloc"), LOCAL_FUNC, 12, 0x600, 100)]
    into = {}
    _attach._symbols(_symbol_table(twice, wide), names, 24 if wide else 16, wide, into, {})
    assert into[b"_PyObject_Malloc"] is None


@pytest.mark.parametrize("offset, renamed", [(1, True), (0, False)], ids=["arenas.lto_priv.0", "xarenas.lto_priv.0"])
def test_statics_renamed_by_link_time_optimisation_are_told_not_taken(monkeypatch, offset, renamed):
    """LTO renames clashing statics (arenas.lto_priv.0, .1) and drops the
    file they came from: said so, never guessed between."""
    monkeypatch.setattr(_attach, "_STATICS", (b"arenas",))
    names = b"\0xarenas.lto_priv.0\0"
    entries = [(1 + offset, LOCAL_OBJECT, 5, 0x200, 8)]
    statics = {}
    assert _attach._symbols(_symbol_table(entries, True), names, 24, True, {}, statics) is renamed
    assert statics == {}


def test_remote_pymalloc_refuses_statics_that_are_not_address_size_pairs():
    n = len(memprobe._memprobe.OBMALLOC_STATICS)
    for statics in ("no", (("a", 1),) * max(n, 1), ([1, 2],) * max(n, 1), ((1, 2),) * (n + 1)):
        with pytest.raises(TypeError, match="statics"):
            memprobe._memprobe._remote_pymalloc(1, 0, 0, statics)


# Run before the target's heap is built: another class named Node, of
# another module, and a C type with a dotted name.
ELSEWHERE = textwrap.dedent("""
    import collections, types
    elsewhere = types.ModuleType("elsewhere.deep")
    exec("class Node:\\n    pass\\nkept = [Node() for _ in range(321)]", elsewhere.__dict__)
    queues = [collections.deque() for _ in range(55)]
    class NotAString:
        pass
    NotAString.__module__ = None        # read only from an object whose type is str
    odd = [NotAString() for _ in range(7)]
""")


def _census_by_name(rows):
    return {r.qualified: r for r in rows}


@needs_gil
def test_a_census_counts_the_walked_objects_by_type_name_and_module(tmp_path):
    """The target's 3,500 Node objects, exactly, under their tp_name and
    module, apart from another module's 321 of a class of the same name;
    every walked object in some row; most first."""
    process, view = _start(tmp_path, freeze=True, prelude=ELSEWHERE)
    try:
        remote = memprobe.attach(process.pid, census=True)
    finally:
        seen = _finish(process, view)
    assert remote.partial is None
    rows = remote.census
    assert all(isinstance(r, memprobe.RemoteTypeCount) for r in rows)
    by_name = _census_by_name(rows)
    assert by_name["__main__.Node"].objects == 3500 and by_name["__main__.Node"].module == "__main__"
    assert by_name["elsewhere.deep.Node"].objects == 321 and by_name["elsewhere.deep.Node"].name == "Node"
    assert by_name["collections.deque"].objects >= 55 and by_name["collections.deque"].module == "collections"
    assert by_name["dict"].module == "builtins"
    assert sum(r.objects for r in rows) == sum(seen["lengths"]) + seen["frozen"]
    assert [r.objects for r in rows] == sorted((r.objects for r in rows), reverse=True)
    assert {"dict", "tuple", "function", "type"} <= {r.name for r in rows}
    assert len({r.type_address for r in rows}) == len(rows)
    assert by_name["NotAString"].objects == 7 and by_name["NotAString"].module is None
    assert all(r.module is not None for r in rows if r.name != "NotAString")


def test_a_census_needs_the_lists_walked():
    with pytest.raises(ValueError, match="lengths"):
        memprobe.attach(1, lengths=False, census=True)
    done = subprocess.run([sys.executable, "-m", "memprobe", "attach", "1", "--census", "--no-lengths"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--census" in done.stderr


def test_without_lengths_nothing_is_walked(tmp_path):
    process, view = _start(tmp_path)
    try:
        remote = memprobe.attach(process.pid, lengths=False)
    finally:
        seen = _finish(process, view)
    assert [g.length for g in remote.gc.generations] == [None, None, None]
    assert remote.gc.permanent_length is None and remote.partial is None
    assert [g.count for g in remote.gc.generations] == seen["counts"]


@needs_gil
def test_a_list_longer_than_the_step_cap_is_reported_partial_not_guessed(tmp_path):
    process, view = _start(tmp_path)
    try:
        remote = memprobe.attach(process.pid, max_steps=100)
    finally:
        seen = _finish(process, view)
    assert remote.partial is not None and "step cap" in remote.partial
    assert [g.length for g in remote.gc.generations] == [None, None, None]
    assert [g.count for g in remote.gc.generations] == seen["counts"]


@needs_gil
def test_a_step_cap_is_not_read_again_as_a_change_would_be(monkeypatch):
    """stop=True reads again (up to STOP_ATTEMPTS) only when the target
    changed its lists under the reading; a list over the step cap is as
    long the next time."""
    readings, read = [], _attach._read_gc

    def counted(*args):
        readings.append(read(*args))
        return readings[-1]

    monkeypatch.setattr(_attach, "_read_gc", counted)
    with _running("import time\nx = [[] for _ in range(1000)]\nprint('ready', flush=True)\ntime.sleep(60)") \
            as target:
        remote = memprobe.attach(target.pid, stop=True, max_steps=100)
    assert "step cap" in remote.partial
    assert len(readings) == 1 and readings[0][2] is False


@contextlib.contextmanager
def _running(code):
    """A target running code, once it has printed "ready"; killed after."""
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout.readline() == "ready\n"
            yield process
        finally:
            process.kill()


# A target that keeps allocating and freeing, to be read while it runs.
CHURN = textwrap.dedent("""
    import sys, time
    keep = [[i] for i in range(20000)]
    print("ready", flush=True)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        junk = [[] for _ in range(100)]
        keep[len(junk) % 7] = junk
""")


@pytest.fixture
def churning():
    with _running(CHURN) as process:
        yield process


def test_stop_pauses_a_running_target_and_resumes_it(churning):
    """Its objects counted at one moment: on free-threaded builds too,
    whose heaps the target may have stopped in the middle of changing (the
    reading then lets it run a moment and reads again)."""
    remote = memprobe.attach(churning.pid, stop=True)
    assert remote.stopped and remote.partial is None
    assert remote.tracked_objects >= 20000
    assert (remote.mimalloc is None) != FREE_THREADED
    assert _attach._process_state(churning.pid) not in ("T", None)    # running again


@needs_gil
def test_a_running_target_is_read_without_walking_its_lists(churning):
    """Without stop the counts and thresholds are read (each exact when
    read), and the lists are not walked: they change under a walk, which
    could end anywhere (a reviewer's FIFO of lists read 31-290 objects of
    200,000).  The result says why the lengths are missing."""
    remote = memprobe.attach(churning.pid)
    assert not remote.stopped
    assert _attach._process_state(churning.pid) != "T"
    assert [g.length for g in remote.gc.generations] == [None, None, None]
    assert remote.gc.permanent_length is None
    assert "running" in remote.partial and "stop=True" in remote.partial
    assert [g.threshold for g in remote.gc.generations] == list(gc.get_threshold())
    assert memprobe.attach(churning.pid, census=True).census is None    # nor counted
    # Its arenas are read as they are when read, each pool checked against
    # its arena, or said to have changed.
    if remote.pymalloc is not None:
        assert remote.pymalloc.arenas_current == remote.fragmentation.arenas > 0
        # Each arena's pools add up to its counts, or it is refused.
        assert remote.pymalloc.total_bytes == remote.pymalloc.arenas_current * remote.pymalloc.arena_size
    elif OUTSIDE:
        assert "changed" in remote.pymalloc_missing


# A target that fills and empties pools of every size class, over and
# over: its arenas change under any reading that does not stop it.
POOL_CHURN = textwrap.dedent("""
    import sys
    print("ready", flush=True)
    keep, n = [], 0
    while True:
        n += 1
        keep.append([bytes((n * 37 + i) % 500) for i in range(2000)])
        if len(keep) > 30:
            keep = keep[n % 15:]
""")


@needs_gil
@needs_outside
def test_a_running_targets_arenas_add_up_in_every_reading_or_are_refused():
    """Read without stopping while its pools fill and empty: each arena
    copied is checked against its own counts (free pools: those not yet
    carved and the carved empty ones), so every reading given adds up to
    its arenas' bytes exactly; the others say the target changed them."""
    with _running(POOL_CHURN) as target:
        for _ in range(150):
            remote = memprobe.attach(target.pid, lengths=False)
            if remote.pymalloc is None:
                assert "changed them while they were read" in remote.pymalloc_missing
                continue
            p = remote.pymalloc
            assert p.total_bytes == p.arenas_current * p.arena_size == remote.fragmentation.arenas * p.arena_size
            assert sum(c.pools for c in p.size_classes) + p.unused_pools <= p.arenas_current * p.arena_size // p.pool_size


# A target whose oldest young object is freed and whose newest made, over
# and over: a walk of a running target would end early.
FIFO = textwrap.dedent("""
    import collections
    d = collections.deque([] for _ in range(200000))
    print("ready", flush=True)
    while True:
        d.popleft()
        d.append([])
""")


@needs_gil
def test_stop_reads_a_target_that_churns_its_young_list_exactly_or_says_why_not():
    with _running(FIFO) as target:
        for _ in range(5):
            remote = memprobe.attach(target.pid, stop=True)
            if remote.partial is None:
                assert sum(g.length for g in remote.gc.generations) >= 200000
            else:
                assert "changed" in remote.partial or "collecting" in remote.partial
                assert [g.length for g in remote.gc.generations] == [None, None, None]


def test_the_readers_own_threads_are_refused():
    """A thread id of the reader names the reader: stopping it would stop
    the reader itself."""
    ready, done = threading.Event(), threading.Event()
    ids = []

    def worker():
        ids.append(threading.get_native_id())
        ready.set()
        done.wait(30)

    thread = threading.Thread(target=worker)
    thread.start()
    ready.wait(30)
    try:
        with pytest.raises(ValueError, match="another process"):
            memprobe.attach(ids[0], stop=True)
    finally:
        done.set()
        thread.join()


def test_sigterm_while_a_target_is_paused_resumes_it_first():
    """The reader may be ended by SIGTERM or SIGHUP while its target is
    paused: the target is resumed before the reader exits."""
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        os.kill(target.pid, signal.SIGSTOP)
        _wait_stopped(target)
        with pytest.raises(SystemExit):
            with _attach._resumed_on_exit(target.pid, True):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)       # the handler raises here
        deadline = time.monotonic() + 5
        while _attach._process_state(target.pid) == "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _attach._process_state(target.pid) not in ("T", None)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        target.kill()
        target.wait()


# A reader that pauses its target and then takes a minute over the reading.
SLOW_READER = textwrap.dedent("""
    import sys, time, memprobe
    from memprobe import _attach
    read = _attach._read_gc
    def slow(*args):
        print("paused", flush=True)
        time.sleep(60)
        return read(*args)
    _attach._read_gc = slow
    memprobe.attach(int(sys.argv[1]), stop=True)
""")


def test_a_reader_killed_outright_still_resumes_its_target():
    """SIGKILL runs no handler in the reader: its guard, which the kill
    leaves without a word, resumes the target."""
    with subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.01)"]) as target:
        try:
            with subprocess.Popen([sys.executable, "-c", SLOW_READER, str(target.pid)],
                                  stdout=subprocess.PIPE, text=True) as reader:
                assert reader.stdout.readline() == "paused\n"
                assert _attach._process_state(target.pid) == "T"
                reader.kill()
            deadline = time.monotonic() + 10
            while _attach._process_state(target.pid) == "T":
                assert time.monotonic() < deadline, "the target was left stopped"
                time.sleep(0.01)
        finally:
            target.kill()


def test_a_target_stopped_already_stays_stopped(tmp_path):
    process, view = _start(tmp_path)
    try:
        memprobe.attach(process.pid, stop=True)
        assert _attach._process_state(process.pid) == "T"
    finally:
        _finish(process, view)


def test_a_process_that_is_not_python_is_refused():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.05)
        with pytest.raises(memprobe.AttachError, match="runs no CPython"):
            memprobe.attach(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_process_that_is_gone_is_refused():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with pytest.raises(memprobe.AttachError, match=f"no process {gone.pid}"):
        memprobe.attach(gone.pid)


def test_a_process_that_exits_mid_read_is_refused_cleanly(tmp_path, monkeypatch):
    """The target is killed after it was found and checked, before its
    collector is read: the kernel's answer (ESRCH) becomes an AttachError."""
    process, view = _start(tmp_path)
    check = _attach._check_build

    def check_then_kill(pid, runtime, offsets):
        version = check(pid, runtime, offsets)
        process.kill()
        process.wait()
        return version

    monkeypatch.setattr(_attach, "_check_build", check_then_kill)
    with pytest.raises(memprobe.AttachError, match="exited while it was read|no process"):
        memprobe.attach(process.pid)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError):
        memprobe.attach("1")
    with pytest.raises(TypeError):
        memprobe.attach(True)
    with pytest.raises(ValueError):
        memprobe.attach(0)
    with pytest.raises(ValueError, match="another process"):
        memprobe.attach(os.getpid())
    with pytest.raises(ValueError):
        memprobe.attach(1, max_steps=0)
    with pytest.raises(ValueError):
        memprobe.attach(1, max_steps=2**63)
    with pytest.raises(TypeError):
        memprobe.attach(1, max_steps=True)
    with pytest.raises(ValueError):
        memprobe.attach(2**40)
    with pytest.raises(TypeError):
        memprobe.attach(1, stop="yes")


needs_free_threading = pytest.mark.skipif(not FREE_THREADED, reason="free-threaded builds only")

# Run before the target's heap is built: a thread that makes objects, kept
# after it ends, in segments its heaps leave to the abandoned pool.
THREAD_THAT_ENDED = textwrap.dedent("""
    import threading
    class MadeByAThreadThatEnded:
        pass
    def make():
        global made
        made = [MadeByAThreadThatEnded() for _ in range(777)]
    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
""")


@needs_free_threading
@pytest.mark.parametrize("freeze, disable", [(False, False), (True, False), (False, True)],
                         ids=["tracked", "frozen", "disabled"])
def test_a_free_threaded_target_is_read_exactly_as_it_sees_itself(tmp_path, freeze, disable):
    """No lists: objects are counted on every thread's GC heaps and in the
    abandoned segments of a thread that ended, as its collector finds
    them.  Exactly what the target's gc module says after it resumed
    (len(gc.get_objects()), gc.get_freeze_count(), counts with every
    thread's batch of allocations not yet added, thresholds, enabled),
    and every size class of mimalloc() as it read them around its stop."""
    process, view = _start(tmp_path, freeze=freeze, disable=disable, prelude=THREAD_THAT_ENDED + ELSEWHERE)
    try:
        remote = memprobe.attach(process.pid, census=True)
    finally:
        seen = _finish(process, view)
    assert remote.stopped and remote.partial is None
    assert [g.count for g in remote.gc.generations] == seen["counts"]
    assert [g.threshold for g in remote.gc.generations] == seen["thresholds"] == [100000, 7, 9]
    assert remote.gc.enabled == seen["enabled"] == (not disable)
    assert [g.length for g in remote.gc.generations] == [None, None, None]
    # A free-threaded gc.get_objects(generation) lists every tracked object.
    assert remote.tracked_objects == seen["lengths"][0] == seen["lengths"][2]
    assert remote.gc.permanent_length == seen["frozen"]
    assert (seen["frozen"] >= 3000) == freeze
    rows = {r.qualified: r.objects for r in remote.census}
    assert rows["__main__.Node"] == 3500 and rows["elsewhere.deep.Node"] == 321
    assert rows["collections.deque"] >= 55
    assert rows["NotAString"] == 7
    assert rows["__main__.MadeByAThreadThatEnded"] == 777
    assert sum(r.objects for r in remote.census) == remote.tracked_objects + remote.gc.permanent_length
    assert remote.pymalloc is None and "mimalloc" in remote.pymalloc_missing
    mi = remote.mimalloc
    assert remote.mimalloc_missing is None and mi.scope == "all-threads" and mi.abandoned_pool == \
        memprobe.mimalloc().abandoned_pool
    assert mi.allocator == memprobe.interpreter().allocator == "mimalloc"
    classes = [list(c) for c in mi.size_classes]
    assert classes in seen["mimalloc"]
    assert any(c.abandoned_pages for c in mi.size_classes) == mi.abandoned_pool


@needs_free_threading
def test_a_running_free_threaded_targets_heaps_are_read_but_its_objects_not_counted():
    """Every page is checked as it is read; a quiet target's pages hold
    together, and its thousands of lists show in the gc heap's rows."""
    quiet = "import time\nkeep = [[] for _ in range(5000)]\nprint('ready', flush=True)\ntime.sleep(60)\n"
    with _running(quiet) as target:
        remote = memprobe.attach(target.pid, census=True)
    assert not remote.stopped
    assert remote.tracked_objects is None and remote.census is None and remote.gc.permanent_length is None
    assert "running" in remote.partial
    assert remote.mimalloc_missing is None
    assert sum(c.blocks_in_use for c in remote.mimalloc.size_classes if c.heap == "gc") >= 5000


# Threads that make objects, hand them over and end, again and again: a
# Batch is made only once every Mine of its batch exists, so at every
# moment there are at least MINE_PER_BATCH Mine per Batch.
HANDOVERS = textwrap.dedent("""
    import queue, threading, time
    MINE_PER_BATCH = 30000
    class Mine:
        pass
    class Batch:
        __slots__ = ("items",)
        def __init__(self, items):
            self.items = items
    handed = queue.Queue()
    def worker():
        handed.put([Mine() for _ in range(MINE_PER_BATCH)])
    def driver():
        held = []
        while True:
            thread = threading.Thread(target=worker)
            thread.start()
            held.append(Batch(handed.get()))
            del held[:-6]
            thread.join()
    threading.Thread(target=driver, daemon=True).start()
    print("ready", flush=True)
    time.sleep(120)
""")


@needs_free_threading
def test_threads_stopped_inside_the_allocator_make_a_reading_partial_never_wrong():
    """SIGSTOP stops threads anywhere: one taking an abandoned segment back
    (or moving a page between queues) holds pages in no list, and a review
    found readings that called 180,000 objects 0, exactly.  A reading is
    exact only when every thread running Python stopped outside the
    allocator's code; otherwise it is read again, or partial."""
    exact = 0
    deadline = time.monotonic() + 4
    with _running(HANDOVERS) as target:
        while time.monotonic() < deadline:
            remote = memprobe.attach(target.pid, stop=True, census=True)
            if remote.partial is not None:
                assert "not counted" in remote.partial
                continue
            exact += 1
            rows = {r.qualified: r.objects for r in remote.census}
            assert rows.get("__main__.Mine", 0) >= 30000 * rows.get("__main__.Batch", 0)
    assert exact > 0


@needs_free_threading
def test_a_running_targets_changing_page_queues_end_every_reading():
    """Read without stopping it, page queues change under the reading:
    each page's prev link is checked, so a queue that changed is refused
    at once instead of being walked round a loop (which once took three
    minutes)."""
    readings = 0
    deadline = time.monotonic() + 3
    with _running(HANDOVERS) as target:
        while time.monotonic() < deadline:
            remote = memprobe.attach(target.pid)
            readings += 1
            assert remote.mimalloc is not None or "changed" in remote.mimalloc_missing
    assert readings > 10


# Where a thread stopped, as /proc/PID/task/TID/syscall says it on x86_64:
# the system call and its six arguments, then the stack pointer and the
# instruction; -1 and those two outside a system call.
_LIBPYTHON = ((0x1000, 0x9000),)             # its code, as linked
_ALLOCATOR = ((0x2000, 0x3000),)             # the allocator's functions in it
_BIAS = 0x7F0000000000


def _where(call, pc, sp=0x7FFC0000):
    args = " 0x0" * 6 if call >= 0 else ""
    return f"{call}{args} {sp:#x} {pc:#x}\n"


def _stack(*words):
    return struct.pack(f"{len(words)}P", *words) + bytes(65536 - 8 * len(words))


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="system call numbers of x86_64")
@pytest.mark.parametrize("where, stack, blocked, busy", [
    (_where(-1, _BIAS + 0x2500), _stack(), 0, "inside the allocator"),
    (_where(-1, _BIAS + 0x5000), _stack(_BIAS + 0x2500), 0, None),     # in libpython: stale words not read
    (_where(-1, 0x7F1000000000), _stack(0x7F1000000100, _BIAS + 0x2100), 0, "allocator may have called"),  # memset
    (_where(-1, 0x7F1000000000), _stack(_BIAS + 0x6000), 0, None),                    # called from elsewhere
    (_where(-1, 0x7F1000000000), _stack(_BIAS + 0x6000, _BIAS + 0x2100), 0, "allocator may have called"),
    (_where(-1, 0x7F1000000000), _stack(0x7F1000000100), 0, "cannot be told"),
    (_where(28, 0x7F1000000000), _stack(), 0, "system call the allocator makes (28)"),    # madvise
    (_where(62, 0x7F1000000000), _stack(_BIAS + 0x6000), 0, None),                        # kill, from posixmodule
    (_where(202, 0x7F1000000000), _stack(_BIAS + 0x2100), 0, "allocator may have called"),   # futex, from it
    (_where(-1, _BIAS + 0x5000), _stack(_BIAS + 0x7000, 0, _BIAS + 0x2500), 1 << 9, "signal handler"),
    (_where(-1, _BIAS + 0x5000), _stack(_BIAS + 0x7000), 1 << 9, None),
    ("running\n", _stack(), 0, "had not stopped"),
], ids=["allocator", "libpython", "libc-from-allocator", "libc-from-elsewhere", "libc-through-an-interceptor",
        "libc-untold", "madvise", "kill", "futex-from-allocator", "handler-over-allocator", "handler-elsewhere",
        "running"])
def test_where_each_thread_running_python_stopped_decides_whether_objects_are_counted(monkeypatch, where, stack,
                                                                                        blocked, busy):
    """A free-threaded target's objects are counted only when no thread
    running Python stopped inside the allocator: its functions, another
    library's called from them (the first return into libpython in the
    live frames), a memory system call, or a signal handler that
    interrupted it (signals blocked, and the interrupted instruction saved
    in the live frames)."""
    real_open = open

    def fake_open(path, *args, **kwargs):
        if str(path).endswith("/task/7/syscall"):
            return io.StringIO(where)
        if str(path).endswith("/task/7/status"):
            return io.StringIO(f"Name:\tpython\nSigBlk:\t{blocked:016x}\n")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_attach, "open", fake_open, raising=False)
    monkeypatch.setattr(_attach._memprobe, "_remote_read", lambda pid, at, size: stack[:size])
    elf = _attach._find_runtime(0).elf._replace(allocator_code=_ALLOCATOR, text=_LIBPYTHON, lto=False)
    runtime = _attach._Runtime(0, "libpython", elf, _BIAS)
    said = _attach._in_allocator(1, (7,), runtime)
    assert (said is None) if busy is None else (busy in said and "thread 7" in said)
    assert _attach._in_allocator(1, (), runtime) is None            # no thread running Python
    assert "more threads" in _attach._in_allocator(1, (0,), runtime)
    if where.startswith("-1"):     # outside a system call, where the allocator's code must be known
        assert "stripped" in _attach._in_allocator(1, (7,), runtime._replace(elf=elf._replace(allocator_code=())))
        assert "link-time" in _attach._in_allocator(1, (7,), runtime._replace(elf=elf._replace(lto=True)))


def _other_cpython():
    """A CPython of another minor version on this machine that starts, or
    None (pyenv's shims name versions they cannot run)."""
    import glob

    candidates = sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3")) + sorted(glob.glob("/usr/bin/python3.*"))
    candidates += [shutil.which("python3.%d" % minor) for minor in range(9, 16)]
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK) or candidate.endswith("-config"):
            continue
        try:
            said = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] != %r)"
                                   % (sys.version_info[:2],)], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        if said.strip() == "True":
            return candidate
    return None


OTHER_CPYTHON = _other_cpython()


@pytest.mark.skipif(OTHER_CPYTHON is None, reason="no CPython of another version here")
def test_a_target_of_another_version_is_refused_naming_the_interpreter_to_use():
    with subprocess.Popen([OTHER_CPYTHON, "-c", "import sys, time; print(sys.version, flush=True); "
                           "time.sleep(30)"], stdout=subprocess.PIPE, text=True) as other:
        try:
            version = other.stdout.readline().split()[0]
            with pytest.raises(memprobe.AttachError) as refused:
                memprobe.attach(other.pid)
            message = str(refused.value)
            assert "another build" in message and f"attach {other.pid}" in message
            assert version in message or "unknown version" in message
        finally:
            other.kill()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a root target and a reader that drops to nobody")
def test_a_reader_without_permission_is_told_what_to_change(tmp_path):
    """A reader that is not allowed to read the target (here: a forked
    child that dropped to user nobody, against a root target) gets an
    AttachError naming the rule that refused it and how to lift it."""
    process, view = _start(tmp_path)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:      # pragma: no cover - runs in the child
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            try:
                memprobe.attach(process.pid)
                outcome = "read"
            except memprobe.AttachError as exc:
                outcome = "AttachError: " + str(exc)
            except BaseException as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            os.write(write, outcome.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        outcome = pipe.read()
    os.waitpid(child, 0)
    _finish(process, view)
    assert outcome.startswith("AttachError: not allowed to read process"), outcome
    assert "CAP_SYS_PTRACE" in outcome
    assert ("ptrace_scope" in outcome) == (_attach._ptrace_scope() is not None)


@pytest.mark.parametrize("scope, says", [(None, "another user"), (0, "another user"), (1, "only a parent"),
                                         (2, "CAP_SYS_PTRACE"), (3, "until reboot")])
def test_permission_messages_name_each_ptrace_scope(monkeypatch, tmp_path, scope, says):
    """What each Yama ptrace_scope value means, as the refusal says it
    (None: a kernel without Yama, where only the kernel's own check
    applies, and no sysctl is suggested)."""
    fake = tmp_path / "ptrace_scope"
    if scope is not None:
        fake.write_text(f"{scope}\n")
    real_open = open

    def fake_open(path, *args, **kwargs):
        return real_open(fake if path == "/proc/sys/kernel/yama/ptrace_scope" else path, *args, **kwargs)

    monkeypatch.setattr(_attach, "open", fake_open, raising=False)
    message = _attach._permission_message(1234)
    assert says in message and "process 1234" in message
    assert ("sysctl" in message) == (scope in (1, 2))


@needs_gil
def test_the_command_line_prints_the_reading_and_json(tmp_path):
    process, view = _start(tmp_path)
    try:
        text = subprocess.run([sys.executable, "-m", "memprobe", "attach", str(process.pid), "--census"],
                              capture_output=True, text=True, timeout=120)
        as_json = subprocess.run([sys.executable, "-m", "memprobe", "attach", str(process.pid), "--json",
                                  "--census"], capture_output=True, text=True, timeout=120)
        remote = memprobe.attach(process.pid, census=True)
    finally:
        seen = _finish(process, view)
    assert text.returncode == 0, text.stderr
    assert f"process {process.pid}" in text.stdout and "stopped" in text.stdout
    assert "3,500  __main__.Node" in text.stdout
    assert ("pymalloc not read" in text.stdout) == (remote.pymalloc is None)
    document = json.loads(as_json.stdout)
    VALIDATE(document)
    assert document["kind"] == "remote-snapshot"
    assert [g["length"] for g in document["gc"]["generations"]] == seen["lengths"]
    restored = memprobe.RemoteSnapshot.from_json(as_json.stdout)
    assert [g.count for g in restored.gc.generations] == seen["counts"]
    assert restored.census == remote.census and restored.pymalloc == remote.pymalloc
    assert restored.fragmentation == remote.fragmentation


@pytest.mark.parametrize("pid", ["0", "-3", "x"])
def test_the_command_line_refuses_a_pid_that_is_not_one(pid):
    done = subprocess.run([sys.executable, "-m", "memprobe", "attach", "--", pid],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "pid" in done.stderr


def test_the_command_line_refusal_is_one_line_and_exit_1():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    done = subprocess.run([sys.executable, "-m", "memprobe", "attach", str(gone.pid)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == f"memprobe attach: there is no process {gone.pid}"


def test_a_process_that_is_exiting_counts_as_gone(monkeypatch):
    """While a process exits its memory map is emptied before it is a
    zombie: --watch must see it gone then (the kernel's PF_EXITING flag),
    not report a process that runs no CPython."""
    assert not _attach.gone(os.getpid())
    running = ["S", "1", "1", "1", "0", "-1", str(0x400000)]
    monkeypatch.setattr(_attach, "_stat", lambda pid: running)
    assert not _attach.gone(1234)
    monkeypatch.setattr(_attach, "_stat", lambda pid: ["R", *running[1:6], str(0x400000 | _attach.PF_EXITING)])
    assert _attach.gone(1234)
    monkeypatch.setattr(_attach, "_stat", lambda pid: ["Z", *running[1:]])
    assert _attach.gone(1234)
    monkeypatch.setattr(_attach, "_stat", lambda pid: None)
    assert _attach.gone(1234)


def test_watch_reads_again_until_the_target_exits():
    """The target exits only once two readings were printed, so a slow
    start of the reader cannot make it miss the target altogether."""
    target = subprocess.Popen([sys.executable, "-c", "import sys; x = [[] for _ in range(1000)]; "
                               "print('ready', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    watch = subprocess.Popen([sys.executable, "-m", "memprobe", "attach", str(target.pid), "--json",
                              "--watch", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with target, watch:
        try:
            assert target.stdout.readline() == "ready\n"
            readings = [json.loads(watch.stdout.readline()) for _ in range(2)]
            target.stdin.close()
            target.wait(timeout=60)
            rest, errors = watch.communicate(timeout=120)
        finally:
            target.kill()
            watch.kill()
    assert watch.returncode == 0, errors
    assert f"process {target.pid} exited" in errors
    readings += [json.loads(line) for line in rest.splitlines()]
    assert all(r["pid"] == target.pid for r in readings)


@pytest.mark.parametrize("interval", ["0", "-1", "nan", "soon"])
def test_watch_refuses_an_interval_that_is_not_a_positive_number(interval):
    done = subprocess.run([sys.executable, "-m", "memprobe", "attach", "1", "--watch", interval],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--watch" in done.stderr
