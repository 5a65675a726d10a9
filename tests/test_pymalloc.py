"""pymalloc probes: pymalloc(), arenas(), block_info(), compared with sys.

On 3.12+ the snapshot is read from the interpreter's allocator state, so it
is checked against the interpreter's own report and block count taken back
to back in C.  On 3.9-3.11 the snapshot *is* that report (captured in
memory), so it is checked against sys._debugmallocstats() and
sys.getallocatedblocks() read separately from Python, with a tolerance.
"""
import re
import sys
import textwrap

import pytest

import memprobe
from memprobe import _memprobe
from memprobe._pymalloc import arena_map_from_state, parse_debug_malloc_stats, snapshot_from_state, state_from_report
from _support import DEBUG_EXTRA, DIRECT, INFO, needs_pymalloc, run_code, run_in_subinterpreter

pytestmark = needs_pymalloc
# Building a snapshot's Python objects allocates a few hundred blocks; a
# reading taken from Python after it can differ from the snapshot by that.
PYTHON_SIDE_NOISE = 2000


def expected_class(request_size):
    return (request_size + INFO.pymalloc.alignment - 1) // INFO.pymalloc.alignment - 1


# ---- the snapshot against the interpreter's own numbers ------------------------

def read_back_to_back():
    """(pymalloc's state, the report's text, sys.getallocatedblocks()), all
    read in C before any of them is built; before 3.12 the state is the
    report's."""
    state, (text, allocated) = _memprobe._pymalloc_with_report()
    if state is None:
        state = state_from_report((text, allocated))
    return state, text.decode(), allocated


def test_blocks_in_use_plus_raw_equals_getallocatedblocks_exactly():
    state, _, allocated = read_back_to_back()
    snapshot = snapshot_from_state(state)
    assert snapshot.blocks_in_use + snapshot.raw_allocated_blocks == allocated
    assert snapshot.raw_allocated_blocks > 0


def test_size_classes_and_byte_counts_equal_the_report_taken_back_to_back():
    """memprobe derives every byte count from pool and block counts; the
    interpreter prints its own.  (Before 3.12 the counts come from that
    report too, so this checks the derivation.)"""
    state, text, _ = read_back_to_back()
    report = parse_debug_malloc_stats(text)
    snapshot = snapshot_from_state(state)
    assert [tuple(c) for c in snapshot.size_classes] == [tuple(c) for c in report["size_classes"]]
    for field in ("arenas_allocated_total", "arenas_highwater", "arenas_current", "unused_pools",
                  "bytes_in_allocated_blocks", "bytes_in_available_blocks", "bytes_in_unused_pools",
                  "bytes_lost_to_pool_headers", "bytes_lost_to_quantization", "bytes_lost_to_arena_alignment"):
        assert getattr(snapshot, field) == report[field], field
    total = int(re.search(r"^Total\s+=\s+([\d,]+)", text, re.M).group(1).replace(",", ""))
    assert snapshot.total_bytes == total == snapshot.arenas_current * snapshot.arena_size


def test_snapshot_agrees_with_getallocatedblocks_read_from_python():
    snapshot = memprobe.pymalloc()
    allocated = sys.getallocatedblocks()
    assert snapshot.raw_allocated_blocks >= 0
    assert abs(allocated - snapshot.allocated_blocks) <= PYTHON_SIDE_NOISE


def test_snapshot_agrees_with_debugmallocstats_printed_on_fd_2(capfd):
    capfd.readouterr()
    snapshot = memprobe.pymalloc()
    sys._debugmallocstats()
    report = parse_debug_malloc_stats(capfd.readouterr().err)
    assert report["arenas_allocated_total"] == snapshot.arenas_allocated_total
    assert report["arenas_current"] == snapshot.arenas_current
    assert report["arenas_highwater"] == snapshot.arenas_highwater
    assert {c[0] for c in report["size_classes"]} >= {c.class_index for c in snapshot.size_classes if c.blocks_in_use > 50}
    for index, _, pools, used, _ in report["size_classes"]:
        ours = snapshot.size_class(index)
        assert abs(ours.blocks_in_use - used) <= PYTHON_SIDE_NOISE
        assert abs(ours.pools - pools) <= 5


def test_snapshot_is_consistent_with_itself():
    s = memprobe.pymalloc()
    assert (s.arena_size, s.pool_size) == (INFO.pymalloc.arena_size, INFO.pymalloc.pool_size)
    assert s.total_bytes == s.arenas_current * s.arena_size
    assert s.arenas_reclaimed == s.arenas_allocated_total - s.arenas_current
    assert s.arenas_highwater >= s.arenas_current
    assert s.bytes_in_allocated_blocks == sum(c.blocks_in_use * c.block_size for c in s.size_classes)
    assert s.bytes_in_unused_pools == s.unused_pools * s.pool_size
    for c in s.size_classes:
        assert c.block_size == (c.class_index + 1) * s.alignment
        assert c.pools > 0 and c.blocks_in_use >= 0
        capacity = (s.pool_size - 48) // c.block_size  # 48: pool header rounded to the alignment
        assert c.blocks_in_use + c.blocks_free == c.pools * capacity
    assert s.source == ("obmalloc-state" if DIRECT else "debug-malloc-stats")
    assert s.allocator == INFO.allocator
    assert s.debug_layer == (INFO.allocator == "pymalloc_debug")


# ---- allocating and freeing --------------------------------------------------------

N = 100_000
PAYLOAD = 200  # bytes(200): sys.getsizeof 233 on every version


def test_allocating_and_freeing_100000_objects_of_one_size_class():
    index = expected_class(sys.getsizeof(bytes(PAYLOAD)) + DEBUG_EXTRA)
    before = memprobe.pymalloc()
    objs = [bytes(PAYLOAD) for _ in range(N)]
    during = memprobe.pymalloc()
    grown = during.size_class(index).blocks_in_use - before.size_class(index).blocks_in_use
    # Noise: whatever else of this size the loop and the snapshot allocate.
    assert N <= grown <= N + 50
    # The N blocks came out of space that was free before (unused pools, free
    # blocks of this class) or out of new arenas: together they must cover it.
    block_size = during.size_class(index).block_size
    free_before = before.bytes_in_unused_pools + before.size_class(index).blocks_free * block_size
    new_arena_bytes = (during.arenas_current - before.arenas_current) * during.arena_size
    assert new_arena_bytes + free_before >= N * block_size
    assert during.arenas_current > before.arenas_current
    assert during.arenas_highwater >= before.arenas_highwater
    del objs
    after = memprobe.pymalloc()
    returned = during.size_class(index).blocks_in_use - after.size_class(index).blocks_in_use
    assert N - 50 <= returned <= N + 50
    assert after.arenas_highwater >= during.arenas_highwater  # never decreases


# ---- arenas() ----------------------------------------------------------------------

@pytest.mark.skipif(not DIRECT, reason="arenas() needs 3.12+")
def test_arena_totals_equal_the_snapshot_from_the_same_walk():
    state, _, _ = read_back_to_back()
    snapshot = snapshot_from_state(state)
    arenas = arena_map_from_state(state)
    assert len(arenas) == snapshot.arenas_current
    assert sum(a.free_pools for a in arenas) == snapshot.unused_pools
    pools, blocks = {}, {}
    for arena in arenas:
        total, free, classes, slots = arena.total_pools, arena.free_pools, arena.size_classes, arena.pools
        assert len(slots) == total
        assert sum(1 for s in slots if s.class_index < 0) == free
        assert sum(s.blocks_in_use for s in slots) == sum(c.blocks_in_use for c in classes)
        assert sum(c.pools for c in classes) + free <= total
        for index, _, p, b in classes:
            pools[index] = pools.get(index, 0) + p
            blocks[index] = blocks.get(index, 0) + b
    assert pools == {c.class_index: c.pools for c in snapshot.size_classes}
    assert blocks == {c.class_index: c.blocks_in_use for c in snapshot.size_classes}


@pytest.mark.skipif(not DIRECT, reason="arenas() needs 3.12+")
def test_public_arenas_agree_with_pymalloc():
    # The snapshot first: arenas() builds one tuple per pool after its walk.
    snapshot = memprobe.pymalloc()
    arenas = memprobe.arenas()
    assert len(arenas) == snapshot.arenas_current
    assert len({a.address for a in arenas}) == len(arenas)
    assert all(a.total_pools * snapshot.pool_size <= snapshot.arena_size for a in arenas)
    assert abs(sum(a.blocks_in_use for a in arenas) - snapshot.blocks_in_use) <= PYTHON_SIDE_NOISE


@pytest.mark.skipif(DIRECT, reason="before 3.12 only")
def test_arenas_and_block_info_explain_why_they_are_unavailable_before_312():
    for probe in (memprobe.arenas, lambda: memprobe.block_info([])):
        with pytest.raises(memprobe.UnsupportedInterpreter, match="3.12"):
            probe()


# ---- block_info() --------------------------------------------------------------------

@pytest.mark.skipif(not DIRECT, reason="block_info() needs 3.12+")
@pytest.mark.parametrize("length", [2, 8, 15, 16, 40, 100, 200, 300, 400, 454, 455, 470, 478, 479, 600, 5000])
def test_block_info_size_class_is_what_getsizeof_predicts(length):
    obj = bytes(length)
    info = memprobe.block_info(obj)
    request = sys.getsizeof(obj) + DEBUG_EXTRA
    assert info.getsizeof == sys.getsizeof(obj)
    if request > INFO.pymalloc.small_request_threshold:
        assert not info.pymalloc
        assert info.size_class is None and info.arena is None
    else:
        assert info.pymalloc
        assert info.size_class == expected_class(request)
        assert info.block_size == (info.size_class + 1) * INFO.pymalloc.alignment
        assert info.arena <= info.pool < info.arena + INFO.pymalloc.arena_size
        assert info.arena in {a.address for a in memprobe.arenas()}


class WithDict:
    pass


class Slots:
    __slots__ = ("a", "b")


@pytest.mark.skipif(not DIRECT, reason="block_info() needs 3.12+")
@pytest.mark.parametrize("factory", [list, dict, set, WithDict, Slots, lambda: (1, [2]), lambda: (1, 2, 3, [4])],
                         ids=["list", "dict", "set", "instance with managed dict", "slots", "tuple", "tuple of 4"])
def test_block_info_accounts_for_the_gc_head_and_managed_pointers(factory):
    """Objects whose whole size is one block (a non-empty list's items live
    in a second block, which sys.getsizeof adds in)."""
    obj = factory()
    info = memprobe.block_info(obj)
    gc_head = 16 if type(obj).__flags__ & (1 << 14) else 0
    managed = 16 if type(obj).__flags__ & ((1 << 4) | (1 << 3)) else 0  # MANAGED_DICT, MANAGED_WEAKREF
    assert info.preheader == gc_head + managed
    assert info.pymalloc
    predicted = expected_class(sys.getsizeof(obj) + DEBUG_EXTRA)  # counts the pre-header from 3.12
    if type(obj).__flags__ & (1 << 2) and sys.version_info >= (3, 13):
        # Py_TPFLAGS_INLINE_VALUES (3.13+): the attribute values live inline
        # after the object, in the same block, and sys.getsizeof leaves them out.
        assert info.size_class > predicted
    else:
        assert info.size_class == predicted


@pytest.mark.skipif(not DIRECT, reason="block_info() needs 3.12+")
@pytest.mark.parametrize("obj", [None, True, int, 5, "", "a", ()], ids=repr)
def test_static_objects_are_not_pymalloc_blocks(obj):
    assert memprobe.block_info(obj).pymalloc is False


# ---- allocator modes, each in a fresh interpreter ------------------------------------------

MODE_SCRIPT = textwrap.dedent(
    """
    import sys, memprobe
    from memprobe import _memprobe
    from memprobe._pymalloc import snapshot_from_state
    #PRELUDE
    results = {}
    for name, probe in [("pymalloc", memprobe.pymalloc), ("arenas", memprobe.arenas),
                        ("block_info", lambda: memprobe.block_info(bytes(200)))]:
        try:
            value = probe()
        except memprobe.MemprobeError as exc:
            results[name] = type(exc).__name__ + ": " + str(exc)
        else:
            results[name] = value
    snap = results["pymalloc"]
    if isinstance(snap, memprobe.PymallocSnapshot):
        state, (_, allocated) = _memprobe._pymalloc_with_report()
        print("hooks", snap.hooks_installed, "debug", snap.debug_layer, "source", snap.source)
        print("exact", state is not None and snapshot_from_state(state).allocated_blocks == allocated)
        print("blocks", snap.blocks_in_use > 1000)
    else:
        print("pymalloc-error", snap)
    info = results["block_info"]
    print("block_info", info.size_class if isinstance(info, memprobe.BlockInfo) else info)
    print("padding", info.debug_padding if isinstance(info, memprobe.BlockInfo) else None)
    print("problems", memprobe.interpreter().layout_problems)
    print("snapshot", type(memprobe.snapshot()).__name__)
    arenas = results["arenas"]
    print("arenas", len(arenas) if isinstance(arenas, tuple) else arenas)
    """
)


def run_mode(pythonmalloc=None, xoptions=(), prelude=""):
    """MODE_SCRIPT's answers, {probe: answer}, from a fresh interpreter
    (prelude runs after memprobe is imported)."""
    proc = run_code(MODE_SCRIPT.replace("#PRELUDE", prelude), pythonmalloc=pythonmalloc, xoptions=xoptions,
                    stderr_to_stdout=True, timeout=120, check=True)
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines())


@pytest.mark.parametrize("mode", ["malloc", "malloc_debug"])
def test_every_probe_refuses_when_pymalloc_is_not_in_use(mode):
    out = run_mode(mode)
    for probe in ("pymalloc-error", "block_info", "arenas"):
        assert out[probe].startswith("PymallocUnavailable: pymalloc is not in use: the allocator is " + mode)


@pytest.mark.skipif(sys.version_info < (3, 13), reason="PYTHONMALLOC=mimalloc exists from 3.13")
def test_pymalloc_probes_under_mimalloc_refuse_and_point_to_mimalloc():
    out = run_mode("mimalloc")
    assert out["pymalloc-error"].startswith("PymallocUnavailable: pymalloc is not in use: the allocator is mimalloc")
    assert "(see memprobe.mimalloc())" in out["pymalloc-error"]


@pytest.mark.parametrize("mode", ["debug", "pymalloc_debug"])
def test_debug_layer_numbers_include_the_padding_and_say_so(mode):
    out = run_mode(mode)
    assert out["hooks"].startswith("False debug True")
    if DIRECT:
        assert out["exact"] == "True"
        # bytes(200): 233 bytes + 24 of debug data -> the 272-byte class.
        assert out["block_info"] == str(expected_class(233 + 24))


def test_plain_pymalloc_mode():
    out = run_mode("pymalloc")
    assert out["hooks"].startswith("False debug False")
    if DIRECT:
        assert out["exact"] == "True"
        assert out["block_info"] == str(expected_class(233))


def test_tracemalloc_hooks_do_not_hide_pymalloc_on_312():
    out = run_mode(xoptions=["tracemalloc"])
    if DIRECT:
        assert out["hooks"] == f"True debug {INFO.debug_build} source obmalloc-state"
        assert out["exact"] == "True"
        assert out["blocks"] == "True"
    elif INFO.debug_build:
        # Debug builds still print their report under the hooks.
        assert out["hooks"].startswith("True debug True")
    else:
        assert "hooks such as tracemalloc" in out["pymalloc-error"] or "hooked" in out["pymalloc-error"]


FOREIGN = ["malloc", "malloc_debug"] + (["mimalloc", "mimalloc_debug"] if sys.version_info >= (3, 13) else [])
HOOKED_FOREIGN = "PymallocUnavailable: pymalloc is not in use: hooks (such as tracemalloc) wrap an allocator that is not pymalloc"


@pytest.mark.skipif(not DIRECT, reason="3.12+: before, a hooked allocator prints no report at all")
@pytest.mark.parametrize("mode", FOREIGN)
@pytest.mark.parametrize("when", ["-X tracemalloc", "tracemalloc.start() after import"])
def test_under_hooks_a_foreign_allocator_is_refused_not_read_as_zeros(mode, when):
    """Hooks hide the allocator's name; pymalloc's state then still reads
    as an empty pymalloc.  memprobe looks at a block the interpreter
    allocated to see what is under the hooks."""
    if when == "-X tracemalloc":
        out = run_mode(mode, xoptions=["tracemalloc"])
    else:
        out = run_mode(mode, prelude="import tracemalloc; tracemalloc.start()")
    for probe in ("pymalloc-error", "block_info", "arenas"):
        assert out[probe] == HOOKED_FOREIGN, probe
    assert out["problems"] == "{}"
    assert out["snapshot"] == "Snapshot"


@pytest.mark.skipif(not DIRECT, reason="block_info() needs 3.12+")
@pytest.mark.parametrize("mode", ["pymalloc", "pymalloc_debug"])
def test_under_hooks_the_debug_padding_is_read_from_the_block(mode):
    """With tracemalloc on, the allocator's name is gone: whether the debug
    layer pads the block (and so where the block starts) is read from the
    block's own front words."""
    out = run_mode(mode, xoptions=["tracemalloc"])
    debug = mode == "pymalloc_debug"
    assert out["padding"] == ("16" if debug else "0")
    assert out["block_info"] == str(expected_class(233 + (24 if debug else 0)))
    assert out["hooks"].startswith(f"True debug {debug}")
    assert out["exact"] == "True"


# ---- subinterpreters ----------------------------------------------------------------------------

@pytest.mark.skipif(not DIRECT, reason="per-interpreter allocator state is 3.12+")
def test_a_subinterpreter_reads_its_own_allocator_state(tmp_path):
    out = tmp_path / "sub.txt"
    inside = textwrap.dedent(
        f"""
        import memprobe
        s = memprobe.pymalloc()
        addresses = sorted(a.address for a in memprobe.arenas())
        with open({str(out)!r}, "w") as f:
            f.write(repr((s.blocks_in_use, addresses)))
        """
    )
    # The main interpreter's arenas are listed first: once the subinterpreter
    # is destroyed its arenas' addresses may be reused.
    main_before = textwrap.dedent(
        f"""
        import memprobe
        main = memprobe.pymalloc()
        main_arenas = sorted(a.address for a in memprobe.arenas())
        with open({str(tmp_path / 'main.txt')!r}, "w") as f:
            f.write(repr((main.blocks_in_use, main_arenas)))
        """
    )
    run_in_subinterpreter(inside, main_before=main_before)
    sub_blocks, sub_arenas = eval(out.read_text())
    main_blocks, main_arenas = eval((tmp_path / "main.txt").read_text())
    assert sub_arenas and main_arenas
    assert not set(sub_arenas) & set(main_arenas)  # disjoint: a separate obmalloc state
    assert sub_blocks > 0


LEGACY_SUBINTERPRETER = """
import sys, memprobe
try:
    import _interpreters as interpreters                      # 3.13+
    sub = interpreters.create(interpreters.new_config("legacy"))
except ImportError:
    import _xxsubinterpreters as interpreters                  # 3.12
    sub = interpreters.create(isolated=False)
main_arenas = {a.address for a in memprobe.arenas()}
interpreters.run_string(sub, f'''
import memprobe
s = memprobe.pymalloc()
with open({sys.argv[1]!r}, "w") as f:
    f.write(repr((s.arenas_current, s.blocks_in_use, [a.address for a in memprobe.arenas()])))
''')
interpreters.destroy(sub)
with open(sys.argv[1]) as f:
    arenas_current, blocks, addresses = eval(f.read())
print(arenas_current, blocks, len(main_arenas - set(addresses)))
"""


@pytest.mark.skipif(not DIRECT, reason="per-interpreter allocator state is 3.12+")
def test_a_legacy_subinterpreter_reads_the_main_interpreters_allocator_state(tmp_path):
    """A subinterpreter made with the legacy settings allocates from the
    main interpreter's pymalloc state (Py_RTFLAGS_USE_MAIN_OBMALLOC): it
    reads that state, arenas included, not its own empty one."""
    proc = run_code(LEGACY_SUBINTERPRETER, str(tmp_path / "sub.txt"), check=True)
    arenas_current, blocks, main_arenas_missing = map(int, proc.stdout.split())
    assert arenas_current > 0 and blocks > 1000
    assert main_arenas_missing == 0   # every arena of the main interpreter is listed


@pytest.mark.skipif(not DIRECT, reason="arenas() needs 3.12+")
def test_reading_the_arenas_adds_at_most_four_blocks_per_arena():
    """arenas() must not fill the holes it measures: each arena is held in
    four objects (ArenaInfo, its address and two bytes objects), pools are
    views built on demand."""
    keep = [bytes(50) for _ in range(100_000)][::50]   # a fragmented heap, many arenas
    memprobe.arenas()   # first calls also fill the interpreter's caches
    before = sys.getallocatedblocks()
    arenas = memprobe.arenas()
    grown = sys.getallocatedblocks() - before
    assert len(arenas) >= 5
    assert grown <= 4 * len(arenas) + 10, (grown, len(arenas))
    assert sum(len(a.pools) for a in arenas) == sum(a.total_pools for a in arenas)
    del keep
