"""block_census(): the allocator's in-use blocks by the type of the object
each holds, GC-tracked or not, and what holds each arena: pymalloc's
(3.12+), mimalloc's pages where mimalloc serves objects (free-threaded
3.14+, PYTHONMALLOC=mimalloc 3.13+)."""
import gc
import subprocess
import sys
import textwrap

import pytest

import memprobe
from _support import CENSUS_ALLOCATOR, DIRECT, FREE_THREADED, VERSION, run_code

needs_walk = pytest.mark.skipif(CENSUS_ALLOCATOR is None,
                                reason="needs pymalloc's state (3.12+) or mimalloc's pages (3.13+)")
needs_pools = pytest.mark.skipif(CENSUS_ALLOCATOR != "pymalloc",
                                 reason="needs pymalloc's state (3.12+) and pymalloc serving")


class Plain:
    def __init__(self, i):
        self.i = i


class Slotted:
    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i


def _count(kind):
    """One type's blocks (one int kept: a dict of counts would itself hold
    ints that the next census counts)."""
    return memprobe.block_census().blocks.get(kind, 0)


# Populations of known size, each type's blocks counted once per object: a
# float, a str of 5 letters, an int above the small-int cache, bytes of 41,
# a tuple that holds only ints (the collector untracks those), an instance
# with a managed dict, one with slots.
POPULATIONS = {
    float: lambda n: [i + 0.5 for i in range(n)],
    str: lambda n: [f"s{i:04}" for i in range(n)],
    int: lambda n: [10**6 + i for i in range(n)],
    bytes: lambda n: [bytes(40) + bytes([i % 256]) for i in range(n)],
    Plain: lambda n: [Plain(None) for _ in range(n)],
    Slotted: lambda n: [Slotted(None) for _ in range(n)],
    # A static type of an extension module whose instances are not tracked:
    # known through type.__subclasses__.
    __import__("datetime").date: lambda n: [__import__("datetime").date(2026, 1, 1 + i % 28) for i in range(n)],
}


@needs_walk
@pytest.mark.parametrize("kind", list(POPULATIONS), ids=lambda t: t.__name__)
def test_each_object_of_a_population_is_one_block_of_its_type(kind):
    """GC and non-GC objects alike: making 5,000 of them adds 5,000 blocks
    to their type (a block's type is read from the block, so
    untracked objects such as floats and strs count too)."""
    # No collection in between: one would run the finalizers of earlier
    # tests' garbage, which make and free objects of their own (an unclosed
    # file's ResourceWarning made 13 strs once).
    gc.collect()
    gc.disable()
    try:
        before = _count(kind)
        made = POPULATIONS[kind](5000)
        after = _count(kind)
    finally:
        gc.enable()
    # Give or take two the interpreter made or freed meanwhile (a cached str
    # seen once on 3.12 and 3.15; the int `before` itself).
    assert abs(after - before - 5000) <= 2
    del made


@needs_walk
def test_tuples_the_collector_untracked_are_counted():
    gc.collect()
    tuples, ints = _count(tuple), _count(int)
    made = [(i, i + 1) for i in range(10**6, 10**6 + 3000)]
    gc.collect()           # untracks tuples of ints
    assert not gc.is_tracked(made[0])
    # The 3,000 tuples and their 6,000 ints, give or take what the
    # interpreter made or freed meanwhile (the two ints kept above).
    assert abs(_count(tuple) - tuples - 3000) <= 10
    assert abs(_count(int) - ints - 6000) <= 10
    del made


@needs_walk
def test_every_tracked_object_in_an_allocator_block_is_counted():
    """Recall against gc.get_objects(): for each type, the census counts at
    least as many objects as there are tracked objects of that type in the
    allocator's blocks (under pymalloc, block_info() says which are;
    mimalloc serves every size, so every tracked object)."""
    keep = [Plain(i) for i in range(2000)] + [{"k": i} for i in range(2000)] + [[i] for i in range(2000)]
    objs = gc.get_objects()     # before the census: objects made after it are not in it
    census = memprobe.block_census()
    tracked = {}
    for obj in objs:
        if CENSUS_ALLOCATOR == "mimalloc" or memprobe.block_info(obj).arena is not None:
            tracked[type(obj)] = tracked.get(type(obj), 0) + 1
    own = set(memprobe._types.OWN_TYPES)
    short = {t: (n, census.blocks.get(t, 0)) for t, n in tracked.items()
             if t not in own and census.blocks.get(t, 0) < n}
    assert short == {}
    assert sum(tracked.values()) > 6000
    del keep


@needs_walk
def test_every_tracked_object_of_a_fresh_interpreter_is_counted():
    """The same recall in a fresh interpreter, whose objects include some
    held only by deferred references on free-threaded builds: their count
    without the deferred bias is 0, and they are objects all the same (a
    class was missed until its count was read with the bias).  The objects
    are read through a function's locals: on 3.15 a lazy import object
    read through a global becomes what it imports, and a module-level loop
    counted 7 modules and 2 functions that were still lazy_import objects
    (and counted as such by the census)."""
    out = run_code("""
        import gc, memprobe

        def missed():
            objs = gc.get_objects()
            census = memprobe.block_census()
            in_blocks = census.allocator == "mimalloc"
            tracked = {}
            for obj in objs:
                if in_blocks or memprobe.block_info(obj).arena is not None:
                    tracked[type(obj)] = tracked.get(type(obj), 0) + 1
            own = set(memprobe._types.OWN_TYPES)
            return {t.__name__: (n, census.blocks.get(t, 0)) for t, n in tracked.items()
                    if t not in own and census.blocks.get(t, 0) < n}

        print(missed())
    """, check=True).stdout
    assert out.strip() == "{}"


@needs_pools
def test_the_arenas_the_float_case_leaves_are_held_by_floats():
    """3,000,000 floats, one in 600 kept: the arenas they leave are each held
    by a few dozen floats, and the census says so arena by arena.  An
    arena with no live block (pymalloc keeps one empty arena for reuse;
    whether it is among the sparsest depends on the hash seed) is held by
    nothing."""
    code = """
import gc, memprobe
keep = [i + 0.5 for i in range(3_000_000)][::600]
gc.collect()
census = memprobe.block_census()
frag = memprobe.fragmentation(sparsest=5)
for arena in frag.sparsest:
    holders = census.holders(arena.address)
    if arena.live_blocks == 0:
        assert not holders, (hex(arena.address), holders)
        continue
    assert list(holders) == [float], (hex(arena.address), holders)
    assert holders[float] == arena.live_blocks, (holders[float], arena.live_blocks)
float_arenas = census.arenas_touched[float]
assert float_arenas >= 90 and census.blocks[float] >= 5000, (float_arenas, census.blocks[float])
print("ok", float_arenas)
"""
    assert run_code(code).stdout.startswith("ok")


@needs_pools
def test_bytes_are_block_sizes_and_arenas_add_up():
    p = memprobe.pymalloc()
    census = memprobe.block_census()
    in_objects = sum(census.bytes[t] for t in census.bytes)
    # Every in-use block is an object of a known type, memprobe's own, or
    # other; together they are pymalloc's bytes in allocated blocks, read a
    # moment apart (a few blocks of difference).
    total = in_objects + census.other_bytes + census.memprobe_bytes
    assert abs(total - p.bytes_in_allocated_blocks) < 64 * 1024
    assert census.unreadable_pools == 0
    for arena in census.arenas:
        assert arena.object_blocks == sum(arena.holders.values())
    assert all(census.arenas_touched[t] <= len(census.arenas) for t in census.arenas_touched)


@pytest.mark.skipif(CENSUS_ALLOCATOR != "mimalloc", reason="mimalloc serves objects here")
def test_under_mimalloc_bytes_are_the_live_blocks_of_its_pages():
    """Every in-use block of every page is an object of a known type,
    memprobe's own, or other; together they are the bytes mimalloc()
    counts in use, read a moment before and after (a few blocks apart).
    Each segment's holders add up, and every page's free lists were read."""
    first = memprobe.block_census()
    heaps = memprobe.mimalloc()
    second = memprobe.block_census()
    totals = [sum(c.bytes.values()) + c.other_bytes + c.memprobe_bytes for c in (first, second)]
    assert min(totals) - 64 * 1024 <= heaps.bytes_in_use <= max(totals) + 64 * 1024
    assert second.allocator == "mimalloc" and second.unreadable_pools == 0
    for segment in second.arenas:
        assert segment.object_blocks == sum(segment.holders.values())
        assert segment.address % (1 << 20) == 0     # segments are aligned to their size
    assert "segments held by the fewest objects" in str(second)


@needs_walk
def test_memprobe_results_are_counted_apart():
    first = memprobe.block_census()
    held = [memprobe.snapshot() for _ in range(5)]
    second = memprobe.block_census()
    assert second.memprobe_blocks > first.memprobe_blocks
    own = set(memprobe._types.OWN_TYPES)
    assert not any(t in own for t in second.blocks)
    del held


@needs_walk
def test_the_census_prints_types_by_bytes_and_writes_json():
    census = memprobe.block_census()
    text = str(census)
    unit = "segments" if CENSUS_ALLOCATOR == "mimalloc" else "arenas"
    assert "builtins.str" in text and f"{unit} held by the fewest objects" in text
    assert text.startswith(f"memprobe: {CENSUS_ALLOCATOR}'s blocks")
    data = census.to_dict()
    assert data["kind"] == "block-census" and data["blocks"]["builtins.str"] > 0


@pytest.mark.skipif(CENSUS_ALLOCATOR is not None, reason="the census works here")
def test_without_a_readable_allocator_the_census_refuses_clearly():
    with pytest.raises((memprobe.UnsupportedInterpreter, memprobe.PymallocUnavailable)) as info:
        memprobe.block_census()
    expected = ("3.12+" if not DIRECT
                else "pauses other threads" if FREE_THREADED and VERSION < (3, 14)
                else "pymalloc")
    assert expected in str(info.value)


@pytest.mark.skipif(VERSION < (3, 13) or FREE_THREADED, reason="PYTHONMALLOC=mimalloc: 3.13+ default builds")
def test_under_pythonmalloc_mimalloc_other_threads_make_the_census_refuse():
    """A default build's threads keep their mimalloc heaps to themselves,
    and one that ended leaves its pages out of reach: once another thread
    has run, its objects could not be counted, so the census refuses
    instead of missing them (found by review: 50,000 floats made by a
    thread counted as 0)."""
    out = run_code("""
        import threading, memprobe
        print(memprobe.block_census().allocator)        # alone: it counts
        worker = threading.Thread(target=lambda: [float(i) for i in range(1000)])
        worker.start()
        worker.join()
        try:
            memprobe.block_census()
            print("counted")
        except memprobe.UnsupportedInterpreter as exc:
            print("refused:", exc)
    """, pythonmalloc="mimalloc", check=True).stdout.splitlines()
    assert out[0] == "mimalloc"
    assert out[1].startswith("refused: block_census(): under PYTHONMALLOC=mimalloc") and "1 other thread" in out[1]


@pytest.mark.skipif(not FREE_THREADED or VERSION < (3, 14), reason="free-threaded 3.14+")
def test_a_hooked_allocator_makes_the_free_threaded_census_say_so():
    out = run_code("""
        import tracemalloc, memprobe
        tracemalloc.start()
        try:
            memprobe.block_census()
        except memprobe.MimallocUnavailable as exc:
            print("refused:", exc)
    """, check=True).stdout
    assert out.startswith("refused: block_census(): the allocator is hooked (e.g. by tracemalloc)")


@pytest.mark.skipif(VERSION < (3, 13) or FREE_THREADED, reason="PYTHONMALLOC=mimalloc: 3.13+ default builds")
@pytest.mark.parametrize("allocator", ["mimalloc", "mimalloc_debug"])
def test_under_pythonmalloc_mimalloc_the_census_reads_its_pages(allocator):
    """A default build told to use mimalloc: the census reads mimalloc's
    pages, so 50,000 strs and 3,000 untracked tuples are found there, and
    are gone once freed.  (Counted against a census after they are freed,
    by code that ran once before: otherwise the interpreter frees strs of
    its own meanwhile, such as names its type cache held last, "open" and
    "Optional" among them.)"""
    out = run_code("""
        import gc, memprobe

        def freed(strs, tuples):
            made = [f"s{i:07}" for i in range(strs)]
            pairs = [(i, i + 1) for i in range(10**6, 10**6 + tuples)]
            gc.collect()    # untracks the tuples of ints
            census = memprobe.block_census()
            strs_before, tuples_before = census.blocks[str], census.blocks[tuple]  # no tuple made
            del made, pairs
            after = memprobe.block_census()
            return (census.allocator, strs_before - after.blocks[str], tuples_before - after.blocks[tuple],
                    census.unreadable_pools)

        freed(10, 10)
        print(*freed(50_000, 3000))
    """, pythonmalloc=allocator, check=True).stdout.split()
    assert out == ["mimalloc", "50000", "3000", "0"]


@pytest.mark.skipif(not DIRECT or FREE_THREADED, reason="3.12+ builds with pymalloc")
def test_under_another_allocator_the_census_refuses():
    code = ("import memprobe\ntry:\n    memprobe.block_census()\nexcept memprobe.PymallocUnavailable as e:\n"
            "    print('refused', e)\n")
    out = run_code(code, pythonmalloc="malloc").stdout
    assert out.startswith("refused pymalloc is not in use")


@needs_walk
def test_arrays_of_objects_that_hold_type_pointers_are_not_taken_for_objects():
    """A list's item array or an instance's attribute values hold pointers
    to types too: [None, float, None] has the float type where a float's
    type would be. Only a block whose reference count and size fields are
    those of an object counts."""
    class A: pass
    class B: pass
    class C: pass
    class D: pass
    class E: pass
    class F: pass

    class Field:
        def __init__(self, name):
            self.kind = int
            self.name = name

    floats, fs, ints = _count(float), _count(F), _count(int)
    made = ([[None, float, None] for _ in range(10000)], [[A, B, C, D, E, F] for _ in range(10000)],
            [Field("x") for _ in range(10000)])
    assert _count(int) - ints <= 5
    # Where objects sit below 4 GiB (an interpreter built without PIE, a
    # heap from brk), a pointer to one reads as a plausible reference
    # count: such arrays can be taken for objects there (see blocks.c).
    if id(None) >= 2**32:
        assert _count(float) - floats <= 5
    if id(None) >= 2**32 and id(E) >= 2**32:
        assert _count(F) - fs == 0
    del made


@needs_walk
def test_a_tuple_whose_first_item_is_a_class_is_not_an_instance_of_it():
    """A tracked tuple (M, i) read one GC head further on has i where a
    count would be and M where a type would be: that is inside the tuple,
    not an M.  The lowest offset that holds an object wins, and a GC
    head's links must be links (found by review: 20,000 live M counted as
    38,537)."""
    class M:
        pass

    made = []
    for i in range(20_000):
        made.append(M())
        made.append((M, i))
    assert _count(M) == 20_000
    classes = [type(f"K{i}", (), {}) for i in range(2000)]
    holders = [(k, 1) for k in classes]
    census = memprobe.block_census()
    assert sum(census.blocks.get(k, 0) for k in classes) == 0
    del made, holders


# Dead tuple iterators on the freelist over tuples freed since, whose
# blocks new classes take: an iterator keeps its index and its (dangling)
# tuple pointer, which read, two words further on, as a count and a type.
DEAD_ITERATORS = textwrap.dedent("""
    import gc
    from memprobe import _memprobe

    gc.disable()                  # a collection empties every freelist
    seqs = [tuple(range(i, i + 115)) for i in range(10)]     # in a type object's size class
    its = [iter(s) for s in seqs]
    for it in its:
        next(it)
    del its, it, seqs
    classes = [type(f"K{i}", (), {}) for i in range(200)]
    types, blocks = _memprobe._block_census(False)[:2]
    made = set(map(id, classes))
    print(sum(n for t, n in zip(types, blocks) if id(t) in made))
""")


@needs_walk
def test_a_dead_object_on_a_freelist_is_not_read_as_what_its_fields_point_to():
    """A block whose header is a known type where that type's pre-header
    puts it is that type's object, alive or dead: never looked into at a
    higher offset (found by review on 3.14t: a dead tuple iterator counted
    as an instance of the class allocated where its tuple was).  In
    processes of their own: whether the count reads as plausible depends
    on where the iterator type was loaded."""
    for _ in range(4):
        done = subprocess.run([sys.executable, "-c", DEAD_ITERATORS], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "0"


@needs_walk
def test_a_freed_builtin_method_bound_to_a_class_is_not_an_instance_of_it():
    """3.14+ keep freed builtin methods on a freelist, linked through the
    word that held the count, so M.mro freed reads, one GC head further
    on, as an M: a static PyMethodDef's address (a small number on a
    non-PIE build) where the count would be, M where the type would be.
    A GC head's links are never types, and this one's _gc_prev is the
    method's type (found on 3.15: 20,001 M counted for 20,000)."""
    class M:
        pass

    kept = [M() for _ in range(100)]
    methods = [M.mro for _ in range(1000)]
    del methods
    assert _count(M) == 100
    del kept


LEGACY_CENSUS = """
import sys, memprobe
try:
    import _interpreters as interpreters                      # 3.13+
    sub = interpreters.create(interpreters.new_config("legacy"))
except ImportError:
    import _xxsubinterpreters as interpreters                  # 3.12
    sub = interpreters.create(isolated=False)
interpreters.run_string(sub, f'''
import memprobe
try:
    memprobe.block_census()
    answer = "counted"
except memprobe.UnsupportedInterpreter as e:
    answer = str(e)
with open({sys.argv[1]!r}, "w") as f:
    f.write(answer)
''')
interpreters.destroy(sub)
print(open(sys.argv[1]).read())
"""


@needs_pools
def test_a_legacy_subinterpreter_refuses_the_census(tmp_path):
    """Its blocks are the main interpreter's too, whose types it cannot
    know: it refuses rather than count half of them as other blocks."""
    out = run_code(LEGACY_CENSUS, str(tmp_path / "sub.txt"), check=True).stdout
    assert "shares the main interpreter's pymalloc state" in out


@needs_walk
def test_types_that_share_a_name_add_up_in_json():
    def make():
        class K:
            pass
        return K

    first, second = make(), make()
    keep = [first() for _ in range(1000)] + [second() for _ in range(3000)]
    data = memprobe.block_census().to_dict()
    counted = data["blocks"][f"{__name__}.test_types_that_share_a_name_add_up_in_json.<locals>.make.<locals>.K"]
    # (Where objects sit below 4 GiB, static ones included, a pointer array
    # holding K can pass for an instance: see
    # test_arrays_of_objects_that_hold_type_pointers_are_not_taken_for_objects.)
    if id(None) >= 2**32 and id(first) >= 2**32:
        assert counted == 4000
    else:
        assert 4000 <= counted <= 4005
    del keep


# ---- In snapshots and diffs: snapshot(blocks=True) ---------------------------------------


@needs_walk
def test_a_diff_shows_leaked_strs_by_type_with_their_bytes():
    """Strs are not tracked by the collector, so objects_by_type cannot
    show them; a diff of snapshots taken with blocks=True does: 50,000
    leaked strs are builtins.str +50,000, and their bytes are those blocks'
    sizes (7-character compact strs: 48 bytes each, 64 under the debug layer).
    A first, small measurement warms the type cache: a name only the cache
    holds is freed when a lookup takes its slot, one str fewer in the diff."""
    def leak(n):
        return [f"leak{i:05}" for i in range(n)]

    with memprobe.measure(blocks=True):
        leak(10)
    gc.collect()
    with memprobe.measure(blocks=True) as m:
        kept = leak(50_000)
    diff = m.diff
    assert "builtins.str" not in diff.objects_by_type
    assert diff.blocks_by_type["builtins.str"] == 50_000
    assert diff.blocks_by_type["builtins.list"] == 1
    if CENSUS_ALLOCATOR == "pymalloc":
        size = memprobe.block_info(kept[0]).block_size
    else:   # the str's size rounded up to one of mimalloc's block sizes
        size = diff.block_bytes_by_type["builtins.str"] // 50_000
        assert sys.getsizeof(kept[0]) <= size < sys.getsizeof(kept[0]) + 16
    assert diff.block_bytes_by_type["builtins.str"] == 50_000 * size
    assert "+50,000" in str(diff) and "builtins.str" in str(diff)
    del kept


@needs_walk
@pytest.mark.parametrize("collect", [False, True], ids=["plain", "collect"])
def test_a_diff_with_blocks_around_an_empty_block_shows_no_objects(collect):
    """The before-snapshot's own objects (its dicts of names and counts,
    the buffers of its baselines) are counted in a second reading once it
    is built, so they are not growth: nothing, by type, exactly."""
    for _ in range(2):
        with memprobe.measure(collect=collect, blocks=True) as m:
            pass
        diff = m.diff
        del m
    assert diff.blocks_by_type == {} and diff.block_bytes_by_type == {}
    assert diff.objects_by_type == {}


@needs_walk
def test_blocks_by_type_round_trip_through_json_and_older_documents_load():
    before = memprobe.snapshot(blocks=True)
    after = memprobe.snapshot(blocks=True)
    assert memprobe.Snapshot.from_json(after.to_json()) == after
    diff = after - before
    assert memprobe.SnapshotDiff.from_json(diff.to_json()) == diff
    # Documents written before these fields existed lack them: not known.
    old = after.to_dict()
    for field in ("blocks_by_type", "block_bytes_by_type", "blocks_unavailable"):
        del old[field]
    loaded = memprobe.Snapshot.from_dict(old)
    assert loaded.blocks_by_type is None and loaded.blocks_unavailable is None
    assert (after - loaded).blocks_by_type is None


def test_blocks_by_type_is_none_unless_asked_for_and_says_why_it_cannot_be():
    plain = memprobe.snapshot()
    assert plain.blocks_by_type is None and plain.blocks_unavailable is None
    asked = memprobe.snapshot(blocks=True)
    if CENSUS_ALLOCATOR is not None:
        assert asked.blocks_by_type and asked.blocks_unavailable is None
        assert (asked - plain).blocks_by_type is None  # both must count them
    else:
        assert asked.blocks_by_type is None and asked.block_bytes_by_type is None
        assert asked.blocks_unavailable  # 3.12+ and pymalloc, the reason says which
        assert "not counted" in str(asked)
    with pytest.raises(TypeError):
        memprobe.snapshot(blocks=1)


@needs_walk
def test_run_blocks_shows_a_scripts_strs(tmp_path):
    script = tmp_path / "strs.py"
    script.write_text("kept = [f'x{i:06}' for i in range(20000)]\n")
    out = run_code(f"import runpy, sys; sys.argv = ['memprobe', 'run', '--blocks', {str(script)!r}]; "
                   "runpy.run_module('memprobe', run_name='__main__')", check=True)
    assert "builtins.str" in out.stderr and "+20,0" in out.stderr


def test_a_snapshot_with_blocks_keeps_no_class_alive():
    """The before-snapshot keeps the names of the types it counted, not the
    types: a class freed inside the measured block is freed there (its
    weakref callbacks run, and the diff shows it gone)."""
    out = run_code("""
        import gc, weakref, memprobe
        class C:
            pass
        objs = [C(), C()]
        alive = weakref.ref(C)
        with memprobe.measure(collect=True, blocks=True) as m:
            del C, objs
            gc.collect()
        print(alive() is None, m.diff.objects_by_type.get("builtins.type", 0))
    """, check=True).stdout
    assert out.split() == ["True", "-1"]


@pytest.mark.skipif(sys.version_info < (3, 13) or FREE_THREADED, reason="PYTHONMALLOC=mimalloc: 3.13+ default builds")
def test_a_leak_check_whose_function_hides_the_count_refuses_instead_of_passing():
    """tracemalloc started over mimalloc makes sys.getallocatedblocks() 0
    from then on: every run would seem to leave nothing."""
    out = run_code("""
        import tracemalloc, memprobe.testing
        kept = []
        def leak_and_trace():
            tracemalloc.start()
            kept.append([[] for _ in range(10)])
        try:
            memprobe.testing.assert_blocks_stable(leak_and_trace, warmup=0)
        except memprobe.PymallocUnavailable as exc:
            print("refused:", exc)
    """, pythonmalloc="mimalloc", check=True).stdout
    assert out.startswith("refused: assert_blocks_stable(): sys.getallocatedblocks() stopped counting")
