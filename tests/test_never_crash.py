"""Never crash: memprobe's functions under allocation failure, and called
on a module object the collector has already cleared.

Each runs in a child process, so a crash shows as a failed test with its
exit status and the last step it reached, instead of killing pytest.
"""
from _support import run_code

# Each entry point of the extension (public and private, test hooks
# included), called on representative arguments.
C_ENTRY_POINTS = """
import subprocess, sys
from functools import partial
from memprobe import _memprobe as m
from memprobe import GCInfo, Generation, SizeClass
from memprobe._attach import _find_runtime
x = [1, 2]
# Another process of this interpreter, for the remote readers.
target = subprocess.Popen([sys.executable, "-c", "import sys; x = [[] for _ in range(1000)]; "
                           "print('ready', flush=True); sys.stdin.read()"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert target.stdout.readline() == "ready\\n"
found = _find_runtime(target.pid)
runtime = found.address
# Where obmalloc.c's statics are (3.9-3.11; none from 3.12).
def static(name):
    value, size = found.elf.statics.get(name.encode(), (0, 0))   # (0, 0): refused, not read
    return found.bias + value, size
statics = tuple(static(n) for n in m.OBMALLOC_STATICS)
main = int.from_bytes(m._remote_read(target.pid, runtime + m._remote_layout()[0], 8), "little")
new_gcinfo, _ = m._maker(GCInfo, ("tracked", "generation", "finalized", "frozen", "gc_bits"))
_, size_class_rows = m._maker(SizeClass, SizeClass._fields)
# functools.partial, not lambda: no Python frame between the injected
# failure and the C function (a failed frame push is CPython's to report).
CALLS = {
    "refcount": partial(m.refcount, x),
    "refinfo": partial(m.refinfo, x),
    "_generation": partial(m._generation, x),
    "_gcinfo": partial(m._gcinfo, x),
    "_generations": partial(m._generations, [x, 1, "s"]),
    "_gc_state": partial(m._gc_state, m.EVERY_LIST),
    "_census(every)": partial(m._census, m.EVERY_LIST),
    "_census(0)": partial(m._census, 1),
    "_interpreter_facts": m._interpreter_facts,
    "_allocator": m._allocator,
    "_layout_problems": m._layout_problems,
    "_pymalloc_state(False)": partial(m._pymalloc_state, False),
    "_pymalloc_state(True)": partial(m._pymalloc_state, True),
    "_pymalloc_with_report": m._pymalloc_with_report,
    "_block_info": partial(m._block_info, x),
    "_block_census": partial(m._block_census, False),
    "_block_census(pools)": partial(m._block_census, True),
    "_block_baseline": partial(m._block_baseline, bytearray(8 * 7), (int, str, float)),
    "_allocated_blocks": m._allocated_blocks,
    "_mimalloc": m._mimalloc,
    "_snapshot(all)": partial(m._snapshot, 15),
    "_snapshot(blocks)": partial(m._snapshot, 63),
    "_snapshot(allocators)": partial(m._snapshot, 12),
    "_baseline": partial(m._baseline, bytearray(8192)),
    "_baseline(small)": partial(m._baseline, bytearray(8)),
    "_set_own_types": partial(m._set_own_types, (int,)),
    "_bare_walk": partial(m._bare_walk, m.EVERY_LIST),
    "_set_layout_problem": partial(m._set_layout_problem, "nothing", None),
    "_version_problem": partial(m._version_problem, 0x030C00F0, 0x030D00F0),
    "_gc_regime_for": partial(m._gc_regime_for, 0x030E00F0, False),
    "_maker": partial(m._maker, SizeClass, SizeClass._fields),
    "_maker.new": partial(new_gcinfo, True, Generation.GEN0, False, False, None),
    "_maker.rows": partial(size_class_rows, (1, 16, 2, 3, 4) * 3),
    "_remote_layout": m._remote_layout,
    "_remote_read": partial(m._remote_read, target.pid, runtime, 64),
    "_remote_gc": partial(m._remote_gc, target.pid, runtime, main, 1000000, False),
    "_remote_gc(0)": partial(m._remote_gc, target.pid, runtime, main, 0, False),
    "_remote_gc(census)": partial(m._remote_gc, target.pid, runtime, main, 1000000, True),
    "_remote_pymalloc": partial(m._remote_pymalloc, target.pid, runtime, main, statics),
}
"""

# Fails allocation number k (and only it) of each call, for k = 1..LAST.
INJECT = """
import _testcapi

def outcome(call, k):
    _testcapi.set_nomemory(k, k + 1)
    try:
        try:
            return type(call())
        except Exception as exc:
            return type(exc)
    finally:
        _testcapi.remove_mem_hooks()

LAST = 300
for name, call in CALLS.items():
    # What the call gives under the same hooks when no allocation fails
    # (hooks hide the allocator's name, so this can be a documented refusal).
    expected = outcome(call, 10**9)
    wrong = []
    for k in range(1, LAST + 1):
        print(name, k, flush=True)   # the last line names a crash
        got = outcome(call, k)
        if got is not MemoryError and got is not expected:
            wrong.append((k, got.__name__))
    print("RESULT", name, expected.__name__, wrong, flush=True)
target.stdin.close()
target.wait()
"""


def test_every_extension_function_fails_cleanly_when_any_one_allocation_fails():
    """Each of the first 300 allocations a call makes is failed in turn: the
    call raises MemoryError or gives what it gives without the failure —
    never a crash, a SystemError or another error."""
    proc = run_code(C_ENTRY_POINTS + INJECT, timeout=600, stderr_to_stdout=True)
    last = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
    assert proc.returncode == 0, f"crashed (exit status {proc.returncode}) at: {last[0]}"
    results = [line.split(" ", 3)[1:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    wrong = {name: answers for name, _, answers in results if answers != "[]"}
    assert len(results) == 39 and not wrong, f"neither MemoryError nor the usual answer: {wrong}"


# ---- a module object the collector has cleared -----------------------------------------------

# The collector calls a module's m_clear when the module is cyclic garbage
# (a second instance of the extension, or this one at shutdown); Python code
# running later in the same collection (a buffer's __release_buffer__, a
# weakref callback) may still call the module's functions.  Which object
# the collector clears first depends on the heap, so m_clear is called here
# directly, through the module's PyModuleDef, exactly as the collector does.
CLEARED = """
import ctypes, importlib.util
spec = importlib.util.find_spec("memprobe._memprobe")
mod = importlib.util.module_from_spec(spec)   # a second instance of the extension module
spec.loader.exec_module(mod)

class ModuleDef(ctypes.Structure):
    _fields_ = [("head", ctypes.c_char * object.__basicsize__),   # PyModuleDef_Base
                ("m_init", ctypes.c_void_p), ("m_index", ctypes.c_ssize_t), ("m_copy", ctypes.c_void_p),
                ("m_name", ctypes.c_char_p), ("m_doc", ctypes.c_char_p), ("m_size", ctypes.c_ssize_t),
                ("m_methods", ctypes.c_void_p), ("m_slots", ctypes.c_void_p), ("m_traverse", ctypes.c_void_p),
                ("m_clear", ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object)), ("m_free", ctypes.c_void_p)]

get_def = ctypes.pythonapi.PyModule_GetDef
get_def.restype, get_def.argtypes = ctypes.POINTER(ModuleDef), [ctypes.py_object]
definition = get_def(mod).contents
assert definition.m_name == b"memprobe._memprobe", definition.m_name
assert definition.m_clear(mod) == 0

x = []
for name, args in [("refcount", (x,)), ("refinfo", (x,)), ("_generation", (x,)), ("_gcinfo", (x,)),
                   ("_block_info", (x,)), ("_generations", ([x],)), ("_census", (1,)),
                   ("_pymalloc_state", (False,)), ("_set_refinfo_type", (tuple,)), ("_gc_state", (1,)),
                   ("_layout_problems", ()), ("_interpreter_facts", ()), ("_mimalloc", ()),
                   ("_set_layout_problem", ("gc", None)),
                   ("_snapshot", (15,)), ("_baseline", (bytearray(64),)), ("_set_own_types", ((),)),
                   ("_block_census", (True,)), ("_block_baseline", (bytearray(64), (int,))),
                   ("_allocated_blocks", ()), ("_remote_layout", ()), ("_remote_read", (1, 0, 8)),
                   ("_remote_gc", (1, 0, 0, 0, False)), ("_remote_pymalloc", (1, 0, 0, ()))]:
    try:
        getattr(mod, name)(*args)
        print(name, "| answered")
    except Exception as exc:
        print(name, "|", f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
"""


def test_functions_of_a_cleared_module_raise_memprobe_error_instead_of_crashing():
    """Every function of a module whose m_clear has run raises MemprobeError
    saying the module was cleared."""
    proc = run_code(CLEARED, stderr_to_stdout=True)
    assert proc.returncode == 0, f"exit status {proc.returncode}:\n{proc.stdout[-2000:]}"
    lines = dict(line.split(" | ", 1) for line in proc.stdout.splitlines() if " | " in line)
    assert len(lines) == 24, proc.stdout
    for name, what in lines.items():
        assert what.startswith("memprobe.MemprobeError: this memprobe module object was cleared"), (name, what)


def test_census_survives_a_finalizer_that_replaces_its_own_types_mid_build():
    """Building census rows can run a collection and a finalizer; one that
    hands the module another tuple of memprobe's types must not make the
    rows overrun what was counted (a heap overflow on 3.9-3.11, where a
    collection runs inside an allocation)."""
    code = """
import gc, memprobe
from memprobe import _memprobe
keep = memprobe.snapshot()
class B:
    def __del__(self):
        _memprobe._set_own_types(())
for _ in range(50):
    b = B(); b.me = b; del b
gc.set_threshold(1)
for _ in range(20):
    _memprobe._census(_memprobe.EVERY_LIST)
print("ok")
"""
    proc = run_code(code, stderr_to_stdout=True)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout[-2000:]
