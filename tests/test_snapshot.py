"""snapshot(), diffs, measure() and `python -m memprobe run`.

Diffs are compared with what was allocated in between: N objects of one
size class show as +N blocks in that class and +N objects of that type, up
to NOISE_BLOCKS; the snapshots' own objects are never growth.
"""
import enum
import gc
import json
import sys
import textwrap

import pytest

import memprobe
from memprobe._snapshot import NOISE_BLOCKS
from memprobe._types import OWN_TYPES
from _support import (BLOCKS_COUNTED, CENSUS_ALLOCATOR, DEBUG_EXTRA, DIRECT, ON_MIMALLOC, PYMALLOC_SERVING,
                      needs_counted_blocks, run_code, run_memprobe)

# `run` also measures runpy's own objects: a few hundred blocks (about a
# thousand under mimalloc, whose delayed frees land in either process).
RUNPY_BLOCKS = 4000 if ON_MIMALLOC else 1000

N = 20_000


class Thing:
    __slots__ = ("value",)


def thing_class_index():
    request = sys.getsizeof(Thing()) + DEBUG_EXTRA  # includes the GC head
    return (request + 15) // 16 - 1


def blocks_within(count, low, high):
    """A snapshot's or diff's allocated_blocks lies in [low, high] where
    sys.getallocatedblocks() counts; elsewhere (PYTHONMALLOC=malloc) it is
    None, never a 0 that would pass any bound around zero."""
    if not BLOCKS_COUNTED:
        return count is None
    return low <= count <= high


@pytest.fixture(autouse=True)
def quiet_collector():
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    yield
    if was:
        gc.enable()


@pytest.mark.skipif(not PYMALLOC_SERVING, reason="needs pymalloc")
def test_diff_shows_n_new_blocks_and_objects_then_the_reverse():
    index = thing_class_index()
    before = memprobe.snapshot()
    things = [Thing() for _ in range(N)]
    during = memprobe.snapshot()
    grown = during - before
    blocks = {d.class_index: d.blocks_in_use for d in grown.size_classes}
    assert N <= blocks[index] <= N + NOISE_BLOCKS
    assert grown.objects_by_type[f"{__name__}.Thing"] == N
    assert blocks_within(grown.allocated_blocks, N - NOISE_BLOCKS, N + NOISE_BLOCKS)
    assert sum(grown.objects_by_generation.values()) >= N
    del things
    after = memprobe.snapshot()
    shrunk = after - during
    blocks = {d.class_index: d.blocks_in_use for d in shrunk.size_classes}
    assert -N - NOISE_BLOCKS <= blocks[index] <= -N + NOISE_BLOCKS
    assert shrunk.objects_by_type[f"{__name__}.Thing"] == -N
    assert shrunk.arenas_highwater >= 0


# ---- Our own noise: a snapshot is not growth -------------------------------------


def _empty_diff(collect):
    with memprobe.measure(collect=collect) as m:
        pass
    return m.diff


@pytest.mark.parametrize("collect", [False, True], ids=["plain", "collect"])
def test_a_diff_around_an_empty_block_shows_nothing_new(collect):
    """The before-snapshot's own objects are neither new objects nor new
    blocks in the after-snapshot: census leaves memprobe's results out, and
    the diff starts from the allocators as they were once the snapshot was
    built.  (One warm-up first: on 3.9/3.10 a function's first call leaves
    a frame cached on its code object.)"""
    _empty_diff(collect)
    diff = _empty_diff(collect)
    assert diff.objects_by_type == {}
    assert set(diff.objects_by_generation.values()) <= {0}
    assert blocks_within(diff.allocated_blocks, -NOISE_BLOCKS, NOISE_BLOCKS)
    for known in (diff.blocks_in_use, diff.raw_allocated_blocks, diff.mimalloc_blocks_in_use):
        assert known is None or abs(known) <= NOISE_BLOCKS
    assert sum(abs(d.blocks_in_use) for d in diff.size_classes) <= NOISE_BLOCKS
    assert sum(abs(d.blocks_in_use) for d in diff.mimalloc_classes) <= NOISE_BLOCKS


def test_two_snapshots_in_a_row_differ_by_nothing():
    first = memprobe.snapshot()
    second = memprobe.snapshot()
    diff = second - first
    assert diff.objects_by_type == {}
    assert blocks_within(diff.allocated_blocks, -NOISE_BLOCKS, NOISE_BLOCKS)


def test_ten_leaked_objects_show_as_ten_blocks_more():
    kept = []
    _empty_diff(False)
    with memprobe.measure() as m:
        kept.extend([Thing() for _ in range(10)])
    assert blocks_within(m.diff.allocated_blocks, 10, 10 + NOISE_BLOCKS)
    assert m.diff.objects_by_type == {f"{__name__}.Thing": 10}


NOT_COUNTED = """
import json, sys, memprobe
class T:
    pass
before = memprobe.snapshot()
kept = [T() for _ in range(1000)]
after = memprobe.snapshot()
diff = after - before
loaded = memprobe.Snapshot.from_json(after.to_json())
print(json.dumps([sys.getallocatedblocks(), after.allocated_blocks, diff.allocated_blocks,
                  loaded.allocated_blocks, memprobe.SnapshotDiff.from_json(diff.to_json()).allocated_blocks,
                  diff.objects_by_type["__main__.T"], "not counted" in str(after), "not counted" in str(diff)]))
"""


@pytest.mark.parametrize("mode, tracing", [("malloc", False), ("malloc_debug", False), ("mimalloc", True)],
                         ids=["malloc", "malloc_debug", "mimalloc-under-tracemalloc"])
def test_allocated_blocks_are_none_where_the_interpreter_counts_none(mode, tracing):
    """sys.getallocatedblocks() counts pymalloc's blocks (mimalloc's from
    3.13) and says 0 under any other allocator: a snapshot's count there is
    None, in diffs, text and JSON alike, while the census still counts."""
    if memprobe.interpreter().free_threaded:
        pytest.skip("free-threaded builds run mimalloc only")
    if mode == "mimalloc" and sys.version_info < (3, 13):
        pytest.skip("PYTHONMALLOC=mimalloc exists on 3.13+ default builds")
    proc = run_code(NOT_COUNTED, pythonmalloc=mode, xoptions=["tracemalloc"] if tracing else [], check=True)
    assert json.loads(proc.stdout) == [0, None, None, None, None, 1000, True, True]


@needs_counted_blocks
def test_a_diff_against_a_snapshot_read_back_from_json_counts_its_blocks():
    """A snapshot loaded from JSON was not taken in this process after
    being built: the diff starts from the numbers it carries."""
    before = memprobe.snapshot()
    after = memprobe.snapshot()
    loaded = memprobe.Snapshot.from_json(before.to_json())
    assert (after - loaded).allocated_blocks == after.allocated_blocks - before.allocated_blocks
    assert abs((after - before).allocated_blocks) <= NOISE_BLOCKS < after.allocated_blocks - before.allocated_blocks


def _tracked_containers(root):
    """Objects reachable from root through memprobe's results and the
    containers they hold, stopping at anything else (types, strs, and the
    Generation members, which exist once and not per result): the tracked
    plain containers among them."""
    seen, stack, plain = set(), [root], []
    own = tuple(OWN_TYPES)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if type(obj) in own or type(obj) in (tuple, list, dict):
            if type(obj) in (tuple, list, dict) and gc.is_tracked(obj):
                plain.append(obj)
            if not isinstance(obj, (type, enum.Enum)):
                stack.extend(gc.get_referents(obj))
    return plain


def test_results_hold_no_tracked_container_census_would_count():
    """Everything tracked inside a result is an instance of memprobe's own
    types, which census leaves out."""
    results = [memprobe.snapshot(), memprobe.census(), memprobe.gc_state(), memprobe.interpreter()]
    for probe in (memprobe.pymalloc, memprobe.mimalloc):
        try:
            results.append(probe())
        except memprobe.MemprobeError:
            pass
    for result in results:
        assert _tracked_containers(result) == [], type(result).__name__


def test_census_leaves_out_results_the_program_holds():
    first = memprobe.census()
    held = [memprobe.snapshot() for _ in range(3)]
    second = memprobe.census()
    grew = {t: second.by_type.get(t, 0) - first.by_type.get(t, 0) for t in list(first.by_type) + list(second.by_type)}
    assert {t: n for t, n in grew.items() if n and t is not list} == {}
    assert sum(second.memprobe_objects.values()) > sum(first.memprobe_objects.values())
    del held


@pytest.mark.parametrize("blocks", [False, True], ids=["objects", "blocks"])
def test_a_measure_rebinding_its_name_does_not_count_the_one_it_replaces(blocks):
    """`with measure() as m:` takes the first snapshot before `as m` lets go
    of the measure m held until then: that measure (and the timeline a
    name held) is memprobe's own, not a freed object of the program's
    (found in a notebook: memprobe._snapshot.measure -1)."""
    if blocks and CENSUS_ALLOCATOR is None:
        pytest.skip("no block census here")
    m = memprobe.measure(collect=True, blocks=blocks)
    t = memprobe.timeline()
    with m:
        pass
    with memprobe.measure(collect=True, blocks=blocks) as m:
        del t
    own = [k for k in (*m.diff.objects_by_type, *(m.diff.blocks_by_type if blocks else ()))
           if k.startswith("memprobe.")]
    assert own == []


def test_a_snapshot_without_census_counts_no_objects_and_diffs_say_so():
    """snapshot(census=False) reads only the allocators and the collector's
    counters: object counts are None (not known), never zeros."""
    before = memprobe.snapshot(census=False)
    kept = [Thing() for _ in range(100)]
    after = memprobe.snapshot(census=False)
    assert before.objects_by_type is None and before.objects_by_generation is None
    assert all(g.length is None or g.length == 0 for g in before.gc.generations)
    diff = after - before
    assert diff.objects_by_type is None and diff.objects_by_generation is None
    assert blocks_within(diff.allocated_blocks, 100, 100 + NOISE_BLOCKS)
    assert (memprobe.snapshot() - before).objects_by_type is None
    assert "not counted" in str(diff)
    loaded = memprobe.Snapshot.from_json(after.to_json())
    assert loaded.objects_by_type is None
    del kept


@pytest.mark.skipif(memprobe.interpreter().free_threaded, reason="free-threaded builds have no permanent list")
def test_snapshots_count_the_permanent_generation_only_when_asked():
    frozen = [Thing() for _ in range(10)]
    gc.freeze()
    try:
        assert "permanent" not in memprobe.snapshot().objects_by_generation
        counted = memprobe.snapshot(frozen=True).objects_by_generation
        assert counted["permanent"] >= 10
        diff = memprobe.snapshot(frozen=True) - memprobe.snapshot()
        assert "permanent" not in diff.objects_by_generation
    finally:
        gc.unfreeze()
    assert memprobe.snapshot().objects_by_generation["permanent"] == 0
    del frozen


FRAGMENTING = """
import gc, memprobe
gc.collect()
with memprobe.measure(collect=True) as m:
    floats = [float(i) for i in range(1_000_000)]
    kept = floats[::600]
    del floats
print(m.diff.to_json())
print(m.after)
print(m.diff)
"""


@pytest.mark.skipif(not PYMALLOC_SERVING, reason="needs pymalloc")
def test_a_diff_shows_the_fragmentation_a_block_leaves():
    """A million floats, one in 600 kept (in a fresh interpreter, whose
    arenas hold no free room yet): the arenas they took stay, live bytes
    barely grow, and the freed floats' bytes are free blocks in pools in
    use or empty pools; snapshots and diffs say so in text and JSON."""
    out = run_code(FRAGMENTING, check=True).stdout
    diff = memprobe.SnapshotDiff.from_json(out.splitlines()[0])
    assert diff.arena_bytes >= 20 * 2**20      # a million 24-byte floats in 32-byte blocks: ~30 MiB
    assert diff.bytes_in_use < 2**20           # 1,667 floats and the list's own growth
    assert diff.free_block_bytes + diff.empty_pool_bytes >= 0.8 * diff.arena_bytes
    assert "  fragmentation " in out and "free in pools in use" in out
    assert "arena bytes / free in pools / empty pools  +" in out


# ---- One moment per snapshot --------------------------------------------------------


def test_every_part_of_a_snapshot_is_read_at_the_same_moment():
    """Nothing is built before everything is read: pymalloc's blocks and
    the interpreter's block count agree exactly, and the census and the
    collector's list lengths come from the same walk."""
    snap = memprobe.snapshot()
    if not snap.free_threaded:
        # memprobe's own results are in the lists, and left out of census.
        assert all(snap.objects_by_generation[str(g.generation)] <= g.length for g in snap.gc.generations)
    if snap.pymalloc is not None and sys.version_info >= (3, 12):
        assert snap.pymalloc.blocks_in_use + snap.pymalloc.raw_allocated_blocks == snap.allocated_blocks


def test_snapshot_round_trips_through_json():
    snap = memprobe.snapshot()
    data = json.loads(json.dumps(snap.to_dict()))
    assert memprobe.Snapshot.from_dict(data) == snap
    assert memprobe.Snapshot.from_json(snap.to_json()) == snap


def test_diff_round_trips_through_json():
    before = memprobe.snapshot()
    keep = [Thing() for _ in range(10)]
    diff = memprobe.snapshot() - before
    assert memprobe.SnapshotDiff.from_json(diff.to_json()) == diff
    assert memprobe.SnapshotDiff.from_dict(json.loads(json.dumps(diff.to_dict()))) == diff
    del keep


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '{"kind": "snapshot"}', '{"kind": "diff", "format": 1}', "null"])
def test_malformed_input_to_the_loaders_is_a_value_error(text):
    with pytest.raises(ValueError):
        memprobe.Snapshot.from_json(text)
    with pytest.raises(ValueError):
        memprobe.SnapshotDiff.from_json(text)


def test_diffing_snapshots_of_different_interpreters_is_refused():
    snap = memprobe.snapshot()
    data = snap.to_dict()
    data["interpreter"] = "CPython 3.8.0 release"
    data["hexversion"] = 0x030800F0
    other = memprobe.Snapshot.from_dict(data)
    with pytest.raises(memprobe.SnapshotMismatch, match="different interpreters"):
        snap - other
    assert issubclass(memprobe.SnapshotMismatch, ValueError)
    assert issubclass(memprobe.SnapshotMismatch, memprobe.MemprobeError)


def test_snapshots_print_as_tables():
    snap = memprobe.snapshot()
    text = str(snap)
    assert text.startswith("memprobe snapshot of CPython")
    assert "sys.getallocatedblocks()" in text
    diff = memprobe.snapshot() - snap
    assert str(diff).startswith("memprobe diff on CPython")


def test_measure_as_a_context_manager():
    with memprobe.measure() as m:
        things = [Thing() for _ in range(1000)]
    assert m.diff.objects_by_type[f"{__name__}.Thing"] == 1000
    assert m.before is not None and m.after is not None
    del things


def test_measure_as_a_decorator_measures_each_call():
    m = memprobe.measure(collect=True)
    kept = []

    @m
    def allocate(n):
        kept.extend(Thing() for _ in range(n))
        return n

    assert allocate(500) == 500
    assert m.diff.objects_by_type[f"{__name__}.Thing"] == 500
    allocate(7)
    assert m.diff.objects_by_type[f"{__name__}.Thing"] == 7


def test_measure_collect_hides_cyclic_garbage():
    def make_cycles():
        for _ in range(200):
            a = [Thing()]
            a.append(a)

    with memprobe.measure(collect=True) as m:
        make_cycles()
    assert m.diff.objects_by_type.get(f"{__name__}.Thing", 0) == 0
    with memprobe.measure(collect=False) as m:
        make_cycles()
    assert m.diff.objects_by_type[f"{__name__}.Thing"] == 200


def test_diff_is_unavailable_until_the_block_ends():
    m = memprobe.measure()
    with pytest.raises(memprobe.MemprobeError):
        m.diff


# ---- python -m memprobe run ---------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import sys
    class Thing:
        __slots__ = ("value",)
    keep = [Thing() for _ in range(int(sys.argv[1]))]
    print("argv=" + repr(sys.argv[1:]) + " name=" + __name__, file=sys.stderr)
    sys.exit(int(sys.argv[2]))
    """
)


@pytest.mark.parametrize("code", [0, 3])
def test_run_passes_argv_and_the_exit_code_through(tmp_path, code):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    # A terminal wide enough for the script's path (lines are fitted to it).
    proc = run_memprobe("run", str(script), "100", str(code), "--verbose", env_extra={"COLUMNS": "1000"})
    assert proc.returncode == code
    assert f"argv=['100', '{code}', '--verbose'] name=__main__" in proc.stderr
    assert f"memprobe run {script}: exit code {code}\n" in proc.stderr
    assert "__main__.Thing" in proc.stderr
    assert proc.stdout == ""   # the diff goes to stderr: stdout is the script's


def test_run_json_matches_an_in_process_diff_of_the_same_script(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    proc = run_memprobe("run", "--json", str(script), str(N), "0")
    assert proc.returncode == 0
    report = json.loads(proc.stdout)
    diff = memprobe.SnapshotDiff.from_dict(report["diff"])
    assert report["target"] == str(script) and report["module"] is False
    assert report["exit_code"] == 0 and report["argv"] == [str(script), str(N), "0"]
    assert diff.objects_by_type["__main__.Thing"] == N

    namespace = {"__name__": "in_process"}
    sys_argv = sys.argv
    sys.argv = [str(script), str(N), "0"]
    try:
        with memprobe.measure() as m:
            try:
                exec(compile(SCRIPT.replace("__main__", "x"), str(script), "exec"), namespace)
            except SystemExit:
                pass
    finally:
        sys.argv = sys_argv
    assert m.diff.objects_by_type["in_process.Thing"] == N
    if BLOCKS_COUNTED:
        assert abs(diff.allocated_blocks - m.diff.allocated_blocks) <= RUNPY_BLOCKS
    else:
        assert diff.allocated_blocks is None and m.diff.allocated_blocks is None
    if PYMALLOC_SERVING:
        index = thing_class_index()
        ours = {d.class_index: d.blocks_in_use for d in m.diff.size_classes}[index]
        theirs = {d.class_index: d.blocks_in_use for d in diff.size_classes}[index]
        assert abs(ours - theirs) <= RUNPY_BLOCKS


def test_run_on_a_missing_script_exits_2_with_one_line(tmp_path):
    proc = run_memprobe("run", str(tmp_path / "missing.py"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "can't open file" in proc.stderr and "No such file or directory" in proc.stderr


def test_run_output_file(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    out = tmp_path / "diff.json"
    proc = run_memprobe("run", "--json", "-o", str(out), str(script), "5", "0")
    assert proc.returncode == 0 and proc.stdout == ""
    assert json.loads(out.read_text())["diff"]["objects_by_type"]["__main__.Thing"] == 5


def test_run_prints_the_resident_memory_before_and_after_the_script(tmp_path):
    """The rss() breakdown around the script, read while its globals are
    alive (as the diff is): 40 MB of bytes over 512 bytes each show as
    malloc in use, in the text and in the JSON."""
    script = tmp_path / "big.py"
    script.write_text("kept = [bytes(4000) for _ in range(10_000)]\n")
    text = run_memprobe("run", str(script), check=True).stderr
    assert "resident memory before and after the run" in text and "after: " in text
    report = json.loads(run_memprobe("run", "--json", str(script), check=True).stdout)
    before, after = report["rss"]["before"], report["rss"]["after"]
    assert before["kind"] == after["kind"] == "rss" and after["verdict"]
    if after["malloc_in_use"] is not None and not ON_MIMALLOC:   # glibc's malloc serves them
        assert after["malloc_in_use"] - before["malloc_in_use"] >= 10_000 * 4000
    if after["total"] is not None:
        assert after["total"] - before["total"] >= 0.9 * 10_000 * 4000


# ---- run behaves like python script.py ----------------------------------------------------

def python_and_memprobe_run(tmp_path, source, *argv):
    """(python script.py, memprobe run script.py), each a CompletedProcess."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    from _support import run_python

    return run_python(str(script), *argv), run_memprobe("run", str(script), *argv)


def test_run_of_a_script_that_raises_exits_and_reports_like_python(tmp_path):
    plain, measured = python_and_memprobe_run(tmp_path, """
        def fail():
            raise ValueError("broken")
        print("before")
        fail()
    """)
    assert measured.returncode == plain.returncode == 1
    assert measured.stdout == plain.stdout == "before\n"
    assert measured.stderr.startswith(plain.stderr)   # the same traceback, then the diff
    frames = [line for line in measured.stderr.splitlines() if line.strip().startswith("File ")]
    assert not any("runpy" in line or "memprobe/__main__" in line for line in frames), measured.stderr
    assert "exit code 1" in " ".join(measured.stderr.split())


def test_run_of_sys_exit_with_a_message_exits_and_reports_like_python(tmp_path):
    plain, measured = python_and_memprobe_run(tmp_path, 'import sys; sys.exit("no input given")')
    assert measured.returncode == plain.returncode == 1
    assert measured.stderr.startswith(plain.stderr) and plain.stderr == "no input given\n"
    assert "exit code no input" not in " ".join(measured.stderr.split())


def test_run_json_on_stdout_parses_even_when_the_script_prints(tmp_path):
    script = tmp_path / "script.py"
    script.write_text('print("chatty script")')
    proc = run_memprobe("run", "--json", str(script))
    assert json.loads(proc.stdout)["exit_code"] == 0
    assert "chatty script" in proc.stderr   # sent aside so that stdout is only the JSON


def test_run_dash_m_runs_a_module_and_a_directory_runs_its_main(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text('import sys; print("main of", __name__, sys.argv[1:])')
    (package / "tool.py").write_text('import sys; print("tool as", __name__, sys.argv[1:])')
    from _support import run_python

    module = run_python("-m", "memprobe", "run", "-m", "pkg.tool", "x", cwd=str(tmp_path))
    assert module.returncode == 0 and module.stdout == "tool as __main__ ['x']\n", module.stderr
    directory = run_memprobe("run", str(package), "y")
    assert directory.returncode == 0 and directory.stdout == "main of __main__ ['y']\n", directory.stderr


@pytest.mark.skipif(not PYMALLOC_SERVING, reason="needs pymalloc")
def test_diffs_carry_bytes_next_to_blocks():
    """N new blocks of one size class are N times its block size in bytes,
    in the class's row, the diff's total and the printed table."""
    index = thing_class_index()
    before = memprobe.snapshot()
    things = [Thing() for _ in range(N)]
    diff = memprobe.snapshot() - before
    row = {d.class_index: d for d in diff.size_classes}[index]
    assert row.bytes_in_use == row.blocks_in_use * row.block_size >= N * row.block_size
    assert diff.bytes_in_use == sum(d.blocks_in_use * d.block_size for d in diff.size_classes)
    assert "KiB" in str(diff) or "MiB" in str(diff)
    del things


def test_results_copy_and_pickle_to_equal_results():
    """Slotted, frozen results go through __init__ when copied or pickled;
    a copy of a snapshot is not the live snapshot, so it has no baseline."""
    import copy
    import pickle

    snap = memprobe.snapshot()
    results = [snap, memprobe.snapshot() - snap, memprobe.gc_state(), memprobe.interpreter(), memprobe.rss()]
    for result in results:
        assert pickle.loads(pickle.dumps(result)) == result
        assert copy.deepcopy(result) == result
    assert not hasattr(copy.copy(snap), "_baseline")


def test_a_measure_used_again_shows_nothing_for_an_empty_body():
    """A decorated function called twice: the second call's diff does not
    count the first call's snapshots being let go."""
    measured = memprobe.measure()

    @measured
    def empty():
        pass

    empty()
    empty()
    assert blocks_within(measured.diff.allocated_blocks, -NOISE_BLOCKS, NOISE_BLOCKS)
    assert measured.diff.objects_by_type == {}


class Cyclic:
    pass


def test_objects_and_blocks_of_a_diff_cover_the_same_moment():
    """Garbage that an automatic collection frees around a snapshot is gone
    from the objects exactly when it is gone from the blocks: the collector
    waits until the snapshot's baseline is read (before, the census counted
    693 objects whose blocks the baseline already showed as freed)."""
    gc.enable()
    try:
        gc.collect()
        threshold = gc.get_threshold()[0]
        for _ in range(max(threshold - 10, 1)):
            a = Cyclic()
            a.me = a
        a = None
        with memprobe.measure() as m:
            pass
    finally:
        gc.disable()
    freed = -m.diff.objects_by_type.get(f"{__name__}.Cyclic", 0)
    if freed == 0:
        assert blocks_within(m.diff.allocated_blocks, -NOISE_BLOCKS, NOISE_BLOCKS)
    else:   # collected inside the block: each object took its blocks with it
        assert blocks_within(m.diff.allocated_blocks, -sys.maxsize, -freed)


TRACED_ALLOCATION = """
import gc, tracemalloc, memprobe
tracemalloc.start()
kept = [None] * 10000          # made before: the loop below only fills it
gc.collect()
before = memprobe.snapshot(census=False)
t0 = tracemalloc.get_traced_memory()[0]
for i in range(10000):
    kept[i] = bytes(50)         # 83 bytes requested: a 96-byte block
t1 = tracemalloc.get_traced_memory()[0]
after = memprobe.snapshot(census=False)
d = after - before
print(t1 - t0, d.bytes_in_use, d.blocks_in_use)
"""


@pytest.mark.skipif(not DIRECT or not PYMALLOC_SERVING, reason="pymalloc read under tracemalloc's hooks: 3.12+")
def test_a_diffs_bytes_lie_between_what_tracemalloc_traced_and_that_rounded_to_blocks():
    """tracemalloc counts the bytes each allocation asked for; a diff counts
    whole blocks. For a pure-Python allocation the diff's bytes are at least
    tracemalloc's and at most that plus the rounding to each block's size
    class (under 16 bytes a block; the debug layer adds its own bytes)."""
    traced, diff_bytes, blocks = map(int, run_code(TRACED_ALLOCATION).stdout.split())
    assert blocks >= 10000
    assert traced <= diff_bytes <= traced + (15 + DEBUG_EXTRA) * blocks
