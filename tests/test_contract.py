"""Every public callable returns what its annotation says (psutil's
tests/test_type_hints.py idea): the annotations are a contract, not a hope.

Each name in ``memprobe.__all__`` and each function of ``memprobe.testing``
is called with representative arguments on this interpreter, and the real
result is checked against its annotation recursively: dataclass and
NamedTuple fields, ``Tuple[X, ...]`` and fixed tuples, ``Dict[K, V]``,
``List[X]``, ``Optional[X]``, enums (a plain int is not a ``Generation``), and
the return annotations of properties and methods.  The C functions'
annotations are read from ``memprobe/_memprobe.pyi``, the stub that ships
with the package; the Python functions' from the functions themselves.

A probe that raises a documented ``MemprobeError`` subclass which applies on
this interpreter (``PymallocUnavailable`` where pymalloc does not serve,
``MimallocUnavailable`` where mimalloc does not, ``UnsupportedInterpreter``
from ``arenas()``/``block_info()`` before 3.12) honours its contract; any other
exception fails the test.
"""
import ast
import collections.abc
import dataclasses
import gc
import sys
import types
import typing
from pathlib import Path

import pytest

import memprobe
from memprobe import testing
from _support import BLOCKS_COUNTED, DIRECT, ON_MIMALLOC, PYMALLOC_BUILT, PYMALLOC_SERVING

# The documented errors that may legitimately end a call on this interpreter.
WITHOUT_PYMALLOC = () if PYMALLOC_SERVING else (memprobe.PymallocUnavailable,)
WITHOUT_MIMALLOC = () if ON_MIMALLOC else (memprobe.MimallocUnavailable,)
WITHOUT_COUNTED_BLOCKS = () if BLOCKS_COUNTED else (memprobe.PymallocUnavailable,)
BEFORE_312 = () if DIRECT else (memprobe.UnsupportedInterpreter,)


class Node:
    def __init__(self):
        self.payload = [1, 2]


# Representative arguments for the probes that take one object: GC and
# non-GC objects, immortal and static ones, a big int, a small and a large
# (over the small-request threshold) block.
OBJECTS = [None, object(), 10**20, "x", [], (1, 2), {"a": []}, int, bytes(200), bytes(5000), Node(), sys]


# ---- checking a value against an annotation ------------------------------------------------

def read_stub_returns():
    """{function name: return annotation} from the installed _memprobe.pyi."""
    stub = Path(memprobe.__file__).with_name("_memprobe.pyi")
    namespace = {**vars(typing), **{name: getattr(memprobe, name) for name in memprobe.__all__}}
    returns = {}
    for node in ast.parse(stub.read_text()).body:
        if isinstance(node, ast.Assign):  # a type alias the annotations use
            exec(compile(ast.Module([node], type_ignores=[]), str(stub), "exec"), namespace)
        if isinstance(node, ast.FunctionDef):
            returns[node.name] = eval(compile(ast.Expression(node.returns), str(stub), "eval"), namespace)
    return returns


STUB_RETURNS = read_stub_returns()


def return_annotation(func):
    """What calling func promises to return."""
    if isinstance(func, type):
        return func
    if isinstance(func, types.BuiltinFunctionType):
        return STUB_RETURNS[func.__name__]
    hints = typing.get_type_hints(func)
    assert "return" in hints, f"{func.__qualname__} has no return annotation"
    if isinstance(hints["return"], typing.TypeVar):   # a classmethod returning its own class
        owner = func.__self__
        return owner if isinstance(owner, type) else type(owner)
    return hints["return"]


def is_memprobe_type(cls):
    return cls.__module__.split(".")[0] == "memprobe"


def check(value, annotation, where="result"):
    """Fail unless value is what annotation says, looking inside containers,
    dataclasses, NamedTuples and at properties."""
    if annotation is typing.Any:
        return
    if annotation is None or annotation is type(None):
        assert value is None, f"{where}: expected None, got {value!r:.100}"
        return
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        problems = []
        for option in args:
            try:
                check(value, option, where)
                return
            except AssertionError as exc:
                problems.append(str(exc))
        raise AssertionError(f"{where}: {value!r:.100} is none of {annotation}: {problems}")
    if origin is tuple:
        assert isinstance(value, tuple), f"{where}: expected a tuple ({annotation}), got {value!r:.100}"
        if len(args) == 2 and args[1] is Ellipsis:
            items = [args[0]] * len(value)
        else:
            items = [a for a in args if a != ()]  # Tuple[()] is ((),) on 3.9/3.10
            assert len(value) == len(items), f"{where}: {len(value)} items where {annotation} has {len(items)}"
        for i, (item, item_annotation) in enumerate(zip(value, items)):
            check(item, item_annotation, f"{where}[{i}]")
        return
    if origin is list:
        assert isinstance(value, list), f"{where}: expected a list ({annotation}), got {value!r:.100}"
        for i, item in enumerate(value):
            check(item, args[0], f"{where}[{i}]")
        return
    if origin in (dict, collections.abc.Mapping):
        assert isinstance(value, origin), f"{where}: expected {annotation}, got {value!r:.100}"
        for key, item in value.items():
            check(key, args[0], f"{where} key {key!r:.60}")
            check(item, args[1], f"{where}[{key!r:.60}]")
        return
    if origin is type:
        assert isinstance(value, type) and issubclass(value, args[0]), f"{where}: {value!r} is not {annotation}"
        return
    assert origin is None, f"{where}: the contract test does not know how to check {annotation}"
    assert isinstance(annotation, type), f"{where}: {annotation!r} is not a type"
    if annotation in (int, float):
        # bool is an int to Python, but a count or size that comes back as
        # True/False is a mistake in the C code.
        assert not isinstance(value, bool), f"{where}: expected {annotation.__name__}, got {value!r}"
        allowed = (int, float) if annotation is float else int
        assert isinstance(value, allowed), f"{where}: expected {annotation.__name__}, got {value!r:.100}"
        return
    assert isinstance(value, annotation), (
        f"{where}: expected {annotation.__qualname__}, got {type(value).__qualname__} {value!r:.100}")
    check_members(value, where)


def check_members(value, where):
    """The fields, tuple items and properties of one of memprobe's objects."""
    cls = type(value)
    if not is_memprobe_type(cls) or isinstance(value, BaseException):
        return
    if dataclasses.is_dataclass(cls) or (issubclass(cls, tuple) and hasattr(cls, "_fields")):
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else cls._fields
        for name in names:
            check(getattr(value, name), hints[name], f"{where}.{name}")
    for base in getattr(cls, "__orig_bases__", ()):   # class ArenaMap(Tuple[ArenaInfo, ...])
        if typing.get_origin(base) is tuple:
            check(tuple(value), base, where)
    for klass in cls.__mro__:
        if not is_memprobe_type(klass):
            continue
        for name, attribute in vars(klass).items():
            if isinstance(attribute, property):
                check(getattr(value, name), return_annotation(attribute.fget), f"{where}.{name}")


class Unavailable(Exception):
    """A probe raised a documented error that applies on this interpreter."""


def returns(func, *args, may_raise=(), **kwargs):
    """Call func; check the result against its return annotation and return
    it.  An error in may_raise ends the case as honoured (Unavailable)."""
    try:
        result = func(*args, **kwargs)
    except may_raise as exc:
        raise Unavailable(f"{getattr(func, '__qualname__', func)}: {type(exc).__name__}: {exc}") from exc
    name = getattr(func, "__qualname__", repr(func))
    check(result, return_annotation(func), f"{name}({', '.join(f'{a!r:.40}' for a in args)})")
    return result


# ---- one case per public name ---------------------------------------------------------------

CASES = {}
TESTING_CASES = {}


def case(*names, table=CASES):
    def register(func):
        for name in names:
            table[name] = func
        return func
    return register


@case("refcount")
def case_refcount():
    for obj in OBJECTS:
        returns(memprobe.refcount, obj)


@case("refinfo", "RefInfo")
def case_refinfo():
    for obj in OBJECTS:
        check(returns(memprobe.refinfo, obj), memprobe.RefInfo)


@case("generation", "Generation")
def case_generation():
    for obj in OBJECTS:
        check(returns(memprobe.generation, obj), memprobe.Generation)
    for member in memprobe.Generation:
        assert returns(memprobe.Generation, member.value) is member


@case("gcinfo", "GCInfo")
def case_gcinfo():
    for obj in OBJECTS:
        check(returns(memprobe.gcinfo, obj), memprobe.GCInfo)


@case("generations")
def case_generations():
    returns(memprobe.generations, OBJECTS)
    returns(memprobe.generations, iter(OBJECTS))
    returns(memprobe.generations, [])


@case("gc_state", "GCState", "GenerationState")
def case_gc_state():
    state = returns(memprobe.gc_state)
    for generation in state.generations:
        check(generation, memprobe.GenerationState)


@case("census", "Census", "TypeCounts")
def case_census():
    census = returns(memprobe.census)
    for counts in [census.by_type, *census.per_generation.values()]:
        check(counts, memprobe.TypeCounts)
        check(dict(zip(counts.keys(), counts.values())), typing.Dict[type, int], "TypeCounts items")
    returns(memprobe.census, top=3)
    returns(memprobe.census, None, 0)
    if not memprobe.interpreter().free_threaded:   # free-threaded builds have no generations to name
        for generation in (0, 2, memprobe.Generation.PERMANENT):
            returns(memprobe.census, generation)


@case("interpreter", "Interpreter")
def case_interpreter():
    returns(memprobe.interpreter)


@case("PymallocConstants")
def case_pymalloc_constants():
    constants = returns(memprobe.interpreter).pymalloc
    if PYMALLOC_BUILT:
        check(constants, memprobe.PymallocConstants, "interpreter().pymalloc")
    else:
        assert constants is None


@case("pymalloc", "PymallocSnapshot", "SizeClass")
def case_pymalloc():
    snapshot = returns(memprobe.pymalloc, may_raise=WITHOUT_PYMALLOC)
    assert snapshot.size_classes
    for size_class in snapshot.size_classes:
        check(size_class, memprobe.SizeClass)
        assert returns(snapshot.size_class, size_class.class_index) == size_class
    absent = max(c.class_index for c in snapshot.size_classes) + 1
    returns(snapshot.size_class, absent)   # a class with no pools: zeros


@case("arenas", "ArenaMap", "ArenaInfo", "ArenaSizeClass", "PoolInfo")
def case_arenas():
    arenas = returns(memprobe.arenas, may_raise=WITHOUT_PYMALLOC + BEFORE_312)
    assert arenas, "pymalloc serves this interpreter, so it has arenas"
    assert any(arena.size_classes for arena in arenas)   # not every arena is empty: nothing is vacuous
    for arena in arenas:
        check(arena, memprobe.ArenaInfo)
        assert arena.pools
        for size_class in arena.size_classes:
            check(size_class, memprobe.ArenaSizeClass)
        for pool in arena.pools:
            check(pool, memprobe.PoolInfo)
    returns(arenas.to_svg)
    returns(arenas.to_svg, "a title")


@case("fragmentation", "Fragmentation", "OccupancyBucket", "SparseArena")
def case_fragmentation():
    result = returns(memprobe.fragmentation, may_raise=WITHOUT_PYMALLOC + BEFORE_312)
    assert result.arenas and result.occupancy and result.sparsest, "pymalloc serves this interpreter"
    returns(memprobe.fragmentation, 0, may_raise=WITHOUT_PYMALLOC + BEFORE_312)


@case("rss", "ResidentMemory")
def case_rss():
    returns(memprobe.rss)


@case("block_census", "BlockCensus", "ArenaHolders")
def case_block_census():
    census = returns(memprobe.block_census, may_raise=WITHOUT_PYMALLOC + BEFORE_312)
    assert census.blocks and census.arenas, f"{census.allocator} serves this interpreter"
    for arena in census.arenas:
        check(arena, memprobe.ArenaHolders)
    returns(census.holders, census.arenas[0].address)
    returns(census.holders, 0)


@case("block_info", "BlockInfo")
def case_block_info():
    for obj in OBJECTS:
        check(returns(memprobe.block_info, obj, may_raise=WITHOUT_PYMALLOC + BEFORE_312), memprobe.BlockInfo)


@case("mimalloc", "MimallocSnapshot", "MimallocSizeClass")
def case_mimalloc():
    snapshot = returns(memprobe.mimalloc, may_raise=WITHOUT_MIMALLOC)
    assert snapshot.size_classes
    for size_class in snapshot.size_classes:
        check(size_class, memprobe.MimallocSizeClass)
    first = snapshot.size_classes[0]
    assert returns(snapshot.heap, first.heap)
    assert returns(snapshot.size_class, first.heap, first.block_size) == first
    returns(snapshot.size_class, "no such heap", 8)   # zeros
    returns(snapshot.heap, "no such heap")


@case("explain", "Explanation")
def case_explain():
    for obj in OBJECTS:
        explained = returns(memprobe.explain, obj)
        returns(explained.to_dict)
        returns(explained._repr_html_)


@case("report", "Report")
def case_report():
    report = returns(memprobe.report)
    returns(report.to_dict)
    returns(report._repr_html_)


@case("snapshot", "Snapshot")
def case_snapshot():
    snapshot = returns(memprobe.snapshot)
    data = returns(snapshot.to_dict)
    assert returns(memprobe.Snapshot.from_dict, data) == snapshot
    text = returns(snapshot.to_json)
    assert returns(memprobe.Snapshot.from_json, text) == snapshot
    returns(snapshot.__sub__, snapshot)
    returns(snapshot._repr_html_)


@case("SnapshotDiff", "SizeClassDelta", "MimallocClassDelta")
def case_snapshot_diff():
    gc.collect()
    before = memprobe.snapshot()
    kept = [Node() for _ in range(2000)]
    after = memprobe.snapshot()
    diff = returns(memprobe.SnapshotDiff.between, before, after)
    check(after - before, memprobe.SnapshotDiff)
    # Where pymalloc serves, 2000 objects change some size class.
    assert bool(diff.size_classes) == PYMALLOC_SERVING
    for delta in diff.size_classes:
        check(delta, memprobe.SizeClassDelta)
    # Where mimalloc serves, they change some heap's block size.
    assert bool(diff.mimalloc_classes) == ON_MIMALLOC
    for delta in diff.mimalloc_classes:
        check(delta, memprobe.MimallocClassDelta)
    assert returns(memprobe.SnapshotDiff.from_dict, returns(diff.to_dict)) == diff
    assert returns(memprobe.SnapshotDiff.from_json, returns(diff.to_json)) == diff
    returns(diff._repr_html_)
    del kept


@case("LessonResult")
def case_lesson_result():
    from memprobe.lessons import LESSONS

    for lesson in LESSONS.values():
        returns(lesson)


@case("timeline", "Timeline", "Collection")
def case_timeline():
    recording = memprobe.timeline(lengths=True)
    with recording as entered:
        kept = [Node() for _ in range(10)]
        gc.collect()
    check(entered, return_annotation(memprobe.timeline.__enter__), "timeline().__enter__()")
    check(recording.result, typing.Optional[memprobe.Timeline], "timeline().result")
    result = recording.result
    assert result.collections
    for collection in result.collections:
        check(collection, memprobe.Collection)
    returns(result.collections_by_generation)
    returns(result.to_svg)
    returns(result.to_html)
    returns(result.to_dict)
    del kept


@case("measure")
def case_measure():
    m = memprobe.measure(collect=True)
    assert type(m) is memprobe.measure   # its .diff exists only once a block has run
    with m as entered:
        kept = [Node() for _ in range(10)]
    check(entered, return_annotation(memprobe.measure.__enter__), "measure().__enter__()")
    check(m, memprobe.measure)   # now that the block has ended, .diff too
    for name in ("before", "after"):
        check(getattr(m, name), typing.Optional[memprobe.Snapshot], f"measure().{name}")
    del kept


@case("attach", "RemoteSnapshot", "RemoteTypeCount")
def case_attach():
    """A child of this interpreter, read from outside (Linux, GIL builds)."""
    import subprocess

    with subprocess.Popen([sys.executable, "-c", "import sys; x = [[] for _ in range(100)]; "
                           "print('ready', flush=True); sys.stdin.read()"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout.readline() == "ready\n"
        may_raise = () if sys.platform.startswith("linux") else (memprobe.AttachError,)
        remote = returns(memprobe.attach, child.pid, stop=True, census=True, may_raise=may_raise)
        check(remote, memprobe.RemoteSnapshot)
        returns(remote.to_dict)
        for row in remote.census or ():     # None on free-threaded builds
            check(row, memprobe.RemoteTypeCount)


@case("inject", "InjectedReport")
def case_inject():
    """memprobe run inside a child of this interpreter (3.14+, Linux)."""
    import subprocess

    code = "import time\nprint('ready', flush=True)\nwhile True: time.sleep(0.01)"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout.readline() == "ready\n"
            may_raise = () if sys.platform.startswith("linux") and hasattr(sys, "remote_exec") \
                else (memprobe.UnsupportedInterpreter, memprobe.AttachError)
            injected = returns(memprobe.inject, child.pid, may_raise=may_raise)
            check(injected, memprobe.InjectedReport)
        finally:
            child.kill()


@case("MemprobeError", "UnsupportedInterpreter", "PymallocUnavailable", "MimallocUnavailable", "SnapshotMismatch",
      "AttachError")
def case_errors():
    for error in (memprobe.MemprobeError, memprobe.UnsupportedInterpreter, memprobe.PymallocUnavailable,
                  memprobe.MimallocUnavailable, memprobe.SnapshotMismatch, memprobe.AttachError):
        assert issubclass(error, memprobe.MemprobeError)
        assert str(returns(error, "why")) == "why"


def leak_free():
    return [object() for _ in range(3)]


@case("assert_blocks_stable", table=TESTING_CASES)
def case_assert_blocks_stable():
    returns(testing.assert_blocks_stable, leak_free, runs=2, warmup=1, tolerance=5, may_raise=WITHOUT_COUNTED_BLOCKS)


@case("assert_no_refcount_leak", table=TESTING_CASES)
def case_assert_no_refcount_leak():
    returns(testing.assert_no_refcount_leak, leak_free, OBJECTS, runs=2)


@case("assert_no_new_arenas", table=TESTING_CASES)
def case_assert_no_new_arenas():
    returns(testing.assert_no_new_arenas, leak_free, may_raise=WITHOUT_PYMALLOC)


# ---- the tests ------------------------------------------------------------------------------------

def test_every_public_name_has_a_contract_case():
    """A name added to memprobe.__all__ fails here until it gets a case."""
    assert sorted(CASES) == sorted(memprobe.__all__)


def test_every_testing_helper_has_a_contract_case():
    assert sorted(TESTING_CASES) == sorted(testing.__all__)


def honour(table, name):
    try:
        table[name]()
    except Unavailable:
        pass   # a documented error that applies here: the contract holds


@pytest.mark.parametrize("name", sorted(memprobe.__all__))
def test_public_name_returns_what_its_annotations_say(name):
    honour(CASES, name)


@pytest.mark.parametrize("name", sorted(testing.__all__))
def test_testing_helper_returns_what_its_annotation_says(name):
    honour(TESTING_CASES, name)


# ---- the checker itself can fail --------------------------------------------------------------

def refinfo_with(**changes):
    return memprobe.refinfo(object())._replace(**changes)


class BadProperty(typing.NamedTuple):
    n: int

    @property
    def double(self) -> int:
        return "two"   # type: ignore[return-value]


BadProperty.__module__ = "memprobe"   # so that it is checked like memprobe's own types

MISMATCHES = {
    "str for int": ("1", int),
    "bool for int": (True, int),
    "int for bool": (1, bool),
    "int for an enum": (0, memprobe.Generation),
    "None for int": (None, int),
    "int in List[str]": (["a", 1], typing.List[str]),
    "short fixed tuple": ((1, 2), typing.Tuple[int, int, int]),
    "str in Tuple[int, ...]": ((1, "2"), typing.Tuple[int, ...]),
    "int key in Dict[str, int]": ({1: 1}, typing.Dict[str, int]),
    "list for Optional[int]": ([], typing.Optional[int]),
    "wrong NamedTuple int field": (refinfo_with(count="3"), memprobe.RefInfo),
    "wrong Optional field": (refinfo_with(low="3"), memprobe.RefInfo),
    "wrong NamedTuple field": (memprobe.SizeClass(0, 16, 1, "2", 0), memprobe.SizeClass),
    "wrong property": (BadProperty(1), BadProperty),
}


@pytest.mark.parametrize("value,annotation", MISMATCHES.values(), ids=list(MISMATCHES))
def test_checker_rejects_a_value_that_does_not_match(value, annotation):
    with pytest.raises(AssertionError):
        check(value, annotation)
