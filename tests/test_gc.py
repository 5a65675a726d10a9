"""GC probes: generation(), gcinfo(), generations(), gc_state(), census().

Each promise is checked against the gc module.  Automatic collection is
switched off around every comparison so that objects stay where they are
between memprobe's read and gc's.
"""
import collections
import gc
import sys
import textwrap
import weakref

import pytest

import memprobe
from memprobe import Generation
from _support import HAVE_GC_FLAG, REGIME, run_code
from memprobe._types import OWN_TYPES

pytestmark = pytest.mark.skipif(
    REGIME != "generational", reason=f"these tests describe the generational collector, not {REGIME}"
)


@pytest.fixture(autouse=True)
def no_automatic_collection():
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


class Node:
    def __init__(self, payload=None):
        self.payload = payload


def expected_generation(obj, members):
    """What gc says about obj: members maps generation -> ids in that list."""
    if not gc.is_tracked(obj):
        if isinstance(obj, type):
            return Generation.UNTRACKED if obj.__flags__ & (1 << 9) else Generation.NOT_GC
        return Generation.UNTRACKED if type(obj).__flags__ & HAVE_GC_FLAG else Generation.NOT_GC
    for generation, ids in members.items():
        if id(obj) in ids:
            return generation
    raise AssertionError(f"{obj!r} is tracked but in no generation gc knows")


def gc_members():
    members = {Generation(g): {id(o) for o in gc.get_objects(generation=g)} for g in range(3)}
    return members


# ---- generation() against gc.get_objects(generation=g) ----------------------

def test_new_container_is_in_generation_0():
    x = []
    assert memprobe.generation(x) == Generation.GEN0 == 0
    assert x in gc.get_objects(generation=0)


def test_promotion_through_the_generations():
    """Mirrors test_gc.test_collect_generations: one generation up per collect(n)."""
    x = Node()
    assert memprobe.generation(x) == 0
    gc.collect(0)
    assert memprobe.generation(x) == 1
    gc.collect(1)
    assert memprobe.generation(x) == 2
    gc.collect(2)
    assert memprobe.generation(x) == 2


@pytest.mark.parametrize("collect_before", [None, 0, 1, 2])
def test_generation_matches_get_objects_for_a_mixed_heap(collect_before):
    objs = [Node(i) for i in range(50)] + [{"a": Node()}, [1, 2], (Node(),), set(), lambda: 1]
    if collect_before is not None:
        gc.collect(collect_before)
    objs += [Node("late"), [None], {"late": []}]
    members = gc_members()
    for obj in objs:
        assert memprobe.generation(obj) == expected_generation(obj, members), obj


def test_generations_batch_matches_one_by_one_and_gc():
    objs = [Node(i) for i in range(20)]
    gc.collect(0)
    objs += [Node(i) for i in range(20)]
    gc.collect(1)
    objs += [Node(i) for i in range(20)] + [1, "s", (1, 2), None, int]
    members = gc_members()
    batch = memprobe.generations(objs)
    assert batch == [memprobe.generation(o) for o in objs]
    assert batch == [expected_generation(o, members) for o in objs]
    assert all(isinstance(g, Generation) for g in batch)


def _positions(objs):
    """The first, a middle and the last of a list of objects."""
    return [objs[0], objs[len(objs) // 2], objs[-1]] if objs else []


def test_generation_of_objects_anywhere_in_long_lists_with_frozen_objects():
    """An object is located from where it sits (towards the nearer end of
    its own list), and the other lists are eliminated by scanning them in
    step: first, middle and last objects of every list agree with gc,
    with a long frozen list and with none."""
    frozen = [Node(i) for i in range(3000)]
    try:
        gc.freeze()
        old = [Node(i) for i in range(3000)]
        gc.collect(1)
        gc.collect(1)
        middle = [Node(i) for i in range(300)]
        gc.collect(0)
        young = [Node(i) for i in range(300)]
        members = gc_members()
        queried = [o for objs in (frozen, old, middle, young) for o in _positions(objs)]
        for obj in queried:
            expected = (Generation.PERMANENT if gc.is_tracked(obj) and all(id(obj) not in ids for ids in members.values())
                        else expected_generation(obj, members))
            assert memprobe.generation(obj) == expected
            assert memprobe.gcinfo(obj).generation == expected
        assert memprobe.generations(queried) == [memprobe.generation(o) for o in queried]
        assert [memprobe.generation(o) for o in _positions(frozen)] == [Generation.PERMANENT] * 3
    finally:
        gc.unfreeze()
    members = gc_members()
    for obj in [o for objs in (frozen, old, middle, young) for o in _positions(objs)]:
        assert memprobe.generation(obj) == expected_generation(obj, members)


@pytest.mark.parametrize("young", range(1, 7))
def test_generation_when_the_young_lists_hold_a_few_objects(young):
    """The young lists are scanned from both ends until the two scans meet:
    with 1 to 6 objects in generation 0 (and in generation 1), each of
    them, an old object and a frozen one are where gc says."""
    old = Node("old")
    frozen = Node("frozen")
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        gc.freeze()
        if young % 2:
            gc.unfreeze()       # half the cases with nothing frozen
        middle = [Node(i) for i in range(young)]
        gc.collect(0)
        objs = [Node(i) for i in range(young)]
        answers = [memprobe.generation(o) for o in [old, frozen] + middle + objs]
        members = gc_members()
        expected = [Generation.PERMANENT if gc.is_tracked(o) and all(id(o) not in ids for ids in members.values())
                    else expected_generation(o, members) for o in [old, frozen] + middle + objs]
        assert answers == expected
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def test_generations_accepts_any_iterable_and_empty():
    assert memprobe.generations([]) == []
    assert memprobe.generations(iter([1, "a"])) == [Generation.NOT_GC, Generation.NOT_GC]
    with pytest.raises(TypeError):
        memprobe.generations(42)


# ---- untracked, not-GC, immortal ---------------------------------------------

@pytest.mark.parametrize("obj", [1, 10**30, "text", b"bytes", 1.5, None, True, int, range(3)], ids=repr)
def test_objects_of_non_gc_types_report_not_gc(obj):
    assert not gc.is_tracked(obj)
    assert memprobe.generation(obj) == Generation.NOT_GC
    info = memprobe.gcinfo(obj)
    assert not info.tracked and info.generation == Generation.NOT_GC


def test_atomic_tuple_is_untracked_after_a_collection():
    """Up to 3.13 a tuple of atoms starts tracked and a collection untracks
    it; from 3.14 it may be untracked from the start.  Either way memprobe
    agrees with gc.is_tracked."""
    t = tuple([1, 2, "three"])
    expected = Generation.GEN0 if gc.is_tracked(t) else Generation.UNTRACKED
    assert memprobe.generation(t) == expected
    if sys.version_info < (3, 14):
        assert expected == Generation.GEN0
    gc.collect()
    assert not gc.is_tracked(t)
    assert memprobe.generation(t) == Generation.UNTRACKED
    assert memprobe.gcinfo(t).tracked is False


def test_untracked_dict_agrees_with_gc_is_tracked():
    d = {"a": 1}
    tracked = gc.is_tracked(d)
    assert (memprobe.generation(d) >= 0) == tracked
    assert memprobe.gcinfo(d).tracked == tracked


@pytest.mark.skipif(sys.version_info < (3, 12), reason="immortal objects exist from 3.12")
def test_immortal_objects_are_outside_the_collector():
    """Immortal objects (None, small ints, static types, the empty tuple) are
    either of non-GC types or untracked: they never appear in a generation."""
    for obj in (None, True, 0, 255, int, list, ()):
        assert memprobe.refinfo(obj).immortal
        generation = memprobe.generation(obj)
        assert generation in (Generation.NOT_GC, Generation.UNTRACKED)
        assert gc.is_tracked(obj) is False


def test_heap_types_are_tracked_gc_objects():
    assert gc.is_tracked(Node)
    assert memprobe.generation(Node) in (Generation.GEN0, Generation.GEN1, Generation.GEN2)


# ---- gcinfo ------------------------------------------------------------------

def test_gcinfo_agrees_with_gc_is_tracked_and_is_finalized():
    class WithDel:
        def __del__(self):
            pass

    obj = WithDel()
    info = memprobe.gcinfo(obj)
    assert info.tracked == gc.is_tracked(obj) is True
    assert info.finalized == gc.is_finalized(obj) is False
    assert info.generation == Generation.GEN0 and not info.frozen
    assert info.gc_bits is None
    # A finalizer that resurrects its object leaves it finalized.
    keep = []

    class Resurrect:
        def __del__(self):
            keep.append(self)

    a = Resurrect()
    a.cycle = a
    del a
    gc.collect()
    survivor = keep.pop()
    assert gc.is_finalized(survivor)
    assert memprobe.gcinfo(survivor).finalized is True
    survivor.cycle = None


# ---- freeze / unfreeze ----------------------------------------------------------

def test_freeze_moves_objects_to_permanent_and_unfreeze_brings_them_back():
    x = Node()
    try:
        gc.freeze()
        assert memprobe.generation(x) == Generation.PERMANENT
        info = memprobe.gcinfo(x)
        assert info.frozen and info.generation == Generation.PERMANENT
        # The permanent list is walked only when asked for.
        assert memprobe.gc_state().permanent_length is None
        assert memprobe.gc_state(frozen=True).permanent_length == gc.get_freeze_count() > 0
        assert Generation.PERMANENT not in memprobe.census().by_generation
        census = memprobe.census(generation=Generation.PERMANENT)
        own = census.memprobe_objects[Generation.PERMANENT]
        assert census.total + own == gc.get_freeze_count()
        everything = memprobe.census(frozen=True)
        assert everything.by_generation[Generation.PERMANENT] == census.total
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
    assert memprobe.gc_state().permanent_length == 0   # empty: known without a walk
    assert memprobe.census().by_generation[Generation.PERMANENT] == 0
    assert memprobe.generation(x) == Generation.GEN2


# ---- gc_state --------------------------------------------------------------------

def test_gc_state_lengths_equal_get_objects():
    """Read back to back in plain statements: a comprehension or a list of
    results would itself be a young object between the two reads."""
    gc.collect(0)
    junk = [Node() for _ in range(10)]  # something in every list
    young = len(gc.get_objects(generation=0))
    middle = len(gc.get_objects(generation=1))
    old = len(gc.get_objects(generation=2))
    state = memprobe.gc_state()
    assert state.generations[0].length == young
    assert state.generations[1].length == middle
    assert state.generations[2].length == old
    assert state.permanent_length == (0 if gc.get_freeze_count() == 0 else None)
    assert memprobe.gc_state(frozen=True).permanent_length == gc.get_freeze_count()
    del junk


def test_gc_state_without_lengths_walks_nothing():
    """lengths=False: the counts and thresholds without a walk of any list
    (what the metrics exporters read on large heaps); a length is known
    only where the list is empty, and then it is 0."""
    junk = [Node() for _ in range(10)]
    state = memprobe.gc_state(lengths=False)
    assert [g.length for g in state.generations][:1] == [None]
    assert all(g.length in (None, 0) for g in state.generations)
    assert [g.threshold for g in state.generations] == list(gc.get_threshold())
    with pytest.raises(TypeError):
        memprobe.gc_state(lengths=1)
    assert memprobe.gc_state(frozen=True, lengths=False).permanent_length == gc.get_freeze_count()
    del junk


def test_gc_state_counts_and_thresholds_equal_gc():
    before = gc.get_count()
    state = memprobe.gc_state()
    after = gc.get_count()
    counts = [g.count for g in state.generations]
    assert counts[1:] == list(before[1:]) == list(after[1:])
    # Generation 0's count moves with every container allocated, including
    # the tuples get_count() itself returns.
    assert before[0] <= counts[0] <= after[0]
    assert tuple(g.threshold for g in state.generations) == gc.get_threshold()
    assert [g.generation for g in state.generations] == [0, 1, 2]


def test_gc_state_flags_and_counters():
    state = memprobe.gc_state()
    assert state.enabled is False  # the fixture disabled it
    gc.enable()
    assert memprobe.gc_state().enabled is True
    gc.disable()
    assert state.collecting is False
    assert state.regime == REGIME
    assert state.long_lived_total >= 0 and state.long_lived_pending >= 0
    if sys.version_info >= (3, 14):
        assert state.heap_size is not None
    else:
        assert state.heap_size is None


def test_thresholds_follow_set_threshold():
    old = gc.get_threshold()
    try:
        gc.set_threshold(1234, 7, 3)
        assert [g.threshold for g in memprobe.gc_state().generations] == [1234, 7, 3]
    finally:
        gc.set_threshold(*old)


# ---- census -----------------------------------------------------------------------

@pytest.mark.parametrize("generation", [0, 1, 2])
def test_census_of_one_generation_equals_a_counter_over_get_objects(generation):
    gc.collect(0)
    junk = [Node() for _ in range(5)]
    objs = gc.get_objects(generation=generation)
    census = memprobe.census(generation)
    expected = collections.Counter(type(o) for o in objs)
    if generation == 0:
        expected[list] += 1  # the list get_objects returned is itself young
    own = {t: expected.pop(t) for t in OWN_TYPES if t in expected}
    assert census.by_type == dict(expected)
    assert census.total == sum(expected.values())
    assert census.memprobe_objects == {Generation(generation): sum(own.values())}
    assert census.generation == generation
    del junk


def test_census_of_everything_matches_get_objects_per_generation():
    gc.collect()
    junk = [Node() for _ in range(5)]
    young = len(gc.get_objects(generation=0))
    middle = len(gc.get_objects(generation=1))
    old = len(gc.get_objects(generation=2))
    census = memprobe.census(frozen=True)
    sizes = [young, middle, old]
    own = [census.memprobe_objects[Generation(g)] for g in range(3)]
    assert census.generation is None
    assert [census.by_generation[Generation(g)] + own[g] for g in range(3)] == sizes
    assert census.by_generation[Generation.PERMANENT] + census.memprobe_objects[Generation.PERMANENT] \
        == gc.get_freeze_count()
    assert census.total == sum(sizes) - sum(own)
    for g in range(3):
        assert sum(census.per_generation[Generation(g)].values()) == sizes[g] - own[g]
    assert census.by_type[Node] >= 5
    del junk


def test_census_by_type_is_most_common_first_and_top_limits_it():
    gc.collect()
    census = memprobe.census(2)  # generation 2 holds still while gc is off
    counts = list(census.by_type.values())
    assert counts == sorted(counts, reverse=True)
    top = memprobe.census(2, top=3)
    assert list(top.by_type.items()) == list(census.by_type.items())[:3]
    assert all(len(d) <= 3 for d in top.per_generation.values())
    assert memprobe.census(top=0).by_type == {}


def test_census_counts_new_objects_of_a_type():
    class Marker:
        pass

    before = memprobe.census(0).by_type.get(Marker, 0)
    made = [Marker() for _ in range(123)]
    assert memprobe.census(0).by_type[Marker] == before + 123
    del made


@pytest.mark.parametrize("bad", [-1, 4, 99])
def test_census_rejects_unknown_generations(bad):
    with pytest.raises(ValueError):
        memprobe.census(bad)


@pytest.mark.parametrize("bad", ["0", 1.0, True])
def test_census_rejects_non_int_arguments(bad):
    with pytest.raises(TypeError):
        memprobe.census(bad)
    with pytest.raises(TypeError):
        memprobe.census(top=bad)


def test_census_rejects_negative_top():
    with pytest.raises(ValueError):
        memprobe.census(top=-1)


# ---- during a collection ----------------------------------------------------------

DURING_GC_SCRIPT = textwrap.dedent(
    """
    import gc, weakref, memprobe
    from memprobe import Generation
    seen = {}
    class Probe:
        def __del__(self):
            seen["del self"] = memprobe.generation(self)
            seen["del gcinfo"] = memprobe.gcinfo(self).generation
            seen["del partner"] = memprobe.generation(self.partner)
            seen["del batch"] = memprobe.generations([self, self.partner, outside])
            seen["del collecting"] = memprobe.gc_state().collecting
            seen["del census"] = memprobe.census().collecting
    outside = [1]
    gc.collect()
    a, b = Probe(), Probe()
    a.partner, b.partner = b, a
    class Target:
        pass
    t = Target()
    t.self = t
    def callback(ref):
        seen["weakref outside"] = memprobe.generation(outside)
        seen["weakref ref"] = memprobe.generation(ref)
        seen["weakref census"] = memprobe.census(top=1).collecting
    ref = weakref.ref(t, callback)
    def on_gc(phase, info):
        seen[phase + " outside"] = memprobe.generation(outside)
        seen[phase + " expected"] = next(
            (Generation(g) for g in range(3) if any(o is outside for o in gc.get_objects(g))), None)
        seen[phase + " collecting"] = memprobe.gc_state().collecting
        olds = gc.get_objects(2)[::50]
        seen[phase + " batch agrees"] = memprobe.generations(olds) == [
            next((Generation(g) for g in range(3) if any(o is x for o in gc.get_objects(g))), None)
            for x in olds]
    gc.callbacks.append(on_gc)
    del a, b, t
    gc.collect()
    gc.callbacks.remove(on_gc)
    for key in sorted(seen):
        print(key, "=", repr(seen[key]))
    """
)


@pytest.fixture(scope="module")
def during_gc():
    """Probes called from __del__, a weakref callback and gc.callbacks while
    gc.collect() runs, in a subprocess so a hang fails instead of blocking."""
    proc = run_code(DURING_GC_SCRIPT, stderr_to_stdout=True, timeout=120, check=True)
    return dict(line.split(" = ", 1) for line in proc.stdout.splitlines())


def test_from_del_the_dying_object_is_in_the_collection(during_gc):
    assert during_gc["del self"] == "<Generation.IN_COLLECTION: -1>"
    assert during_gc["del gcinfo"] == "<Generation.IN_COLLECTION: -1>"
    assert during_gc["del partner"] == "<Generation.IN_COLLECTION: -1>"
    assert during_gc["del batch"].startswith(
        "[<Generation.IN_COLLECTION: -1>, <Generation.IN_COLLECTION: -1>, <Generation.GEN")
    assert during_gc["del collecting"] == "True"
    assert during_gc["del census"] == "True"


def test_from_a_weakref_callback_answers_are_defined(during_gc):
    assert during_gc["weakref outside"].startswith("<Generation.")
    assert during_gc["weakref ref"].startswith("<Generation.")
    assert during_gc["weakref census"] == "True"


def test_from_gc_callbacks_lists_are_intact_and_answers_match_gc(during_gc):
    for phase in ("start", "stop"):
        assert during_gc[phase + " collecting"] == "True"
        assert during_gc[phase + " outside"] == during_gc[phase + " expected"]
        assert during_gc[phase + " batch agrees"] == "True"


# ---- typing of results ---------------------------------------------------------------

def test_generation_members_compare_equal_to_gc_generation_numbers():
    assert [Generation.GEN0, Generation.GEN1, Generation.GEN2] == [0, 1, 2]
    assert gc.get_objects(generation=Generation.GEN1) is not None
    assert len({g.value for g in Generation}) == len(Generation)


def test_results_are_frozen():
    for result in (memprobe.gcinfo([]), memprobe.gc_state(), memprobe.census(top=1)):
        with pytest.raises(Exception):
            result.collecting = True  # type: ignore[misc]


def test_type_counts_are_ranked_when_first_read_and_equal_eager_ones():
    """census() hands back its mappings unranked (ranking every generation
    costs more than the walk on a short list); each is ranked, most common
    first, the first time it is read, and is then the same mapping as one
    built from its items."""
    import pickle
    from memprobe import TypeCounts

    lazy = TypeCounts.ranked((int, str, list, dict), (3, 0, 7, 3))
    assert list(lazy.items()) == [(list, 7), (int, 3), (dict, 3)]     # ties keep the order read
    assert lazy == TypeCounts([(list, 7), (int, 3), (dict, 3)]) and str not in lazy
    assert list(TypeCounts.ranked((int, str, list), (3, 1, 7), top=2)) == [list, int]
    assert pickle.loads(pickle.dumps(lazy)) == lazy and len(TypeCounts.ranked((), ())) == 0

    class Meta(type):
        def __hash__(cls):
            raise RuntimeError("hash called")

    Hostile = Meta("Hostile", (), {})
    assert TypeCounts([(Hostile, 2)]) == TypeCounts.ranked((Hostile,), (2,))   # compared by identity
    assert TypeCounts([(Hostile, 2)]) != TypeCounts([(Hostile, 3)])


# ---- random heaps (hypothesis) ---------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

KINDS = {
    "node": lambda: Node(),
    "list": lambda: [Node()],
    "dict": lambda: {"k": []},
    "atomic dict": lambda: {"k": 1},
    "tuple": lambda: (Node(), 1),
    "atomic tuple": lambda: tuple([1, "x"]),
    "set": lambda: {1, 2},
    "int": lambda: 10**25,
    "str": lambda: "s" * 3,
    "function": lambda: (lambda: None),
    "cycle": lambda: (lambda n: (setattr(n, "payload", n), n)[1])(Node()),
}
STEPS = st.lists(
    st.one_of(st.sampled_from(sorted(KINDS)), st.sampled_from(["collect0", "collect1", "collect2"])),
    min_size=1, max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(STEPS)
def test_generation_is_g_exactly_when_gc_lists_it_in_g(steps):
    objs = []
    for step in steps:
        if step.startswith("collect"):
            gc.collect(int(step[-1]))
        else:
            objs.append(KINDS[step]())
    members = gc_members()
    answers = memprobe.generations(objs)
    for obj, answer in zip(objs, answers):
        assert memprobe.generation(obj) == answer == expected_generation(obj, members)
        for g in range(3):
            assert (answer == g) == (id(obj) in members[Generation(g)])



# ---- no user code inside a census ---------------------------------------------------------------

class Hostile(type):
    """A metaclass whose hash raises, whose equality says every class is
    equal, and whose attribute lookup refuses __module__ and __qualname__."""

    def __hash__(cls):
        raise RuntimeError("a metaclass __hash__ ran inside a probe")

    def __eq__(cls, other):
        return True

    def __getattribute__(cls, name):
        if name in ("__module__", "__qualname__"):
            raise RuntimeError(f"a metaclass looked up {name} inside a probe")
        return super().__getattribute__(name)


def test_census_and_snapshot_run_no_metaclass_code_and_keep_hostile_types_apart():
    first, second = Hostile("First", (), {}), Hostile("Second", (), {})
    objs = [first() for _ in range(3)] + [second() for _ in range(5)]
    census = memprobe.census()
    assert census.by_type[first] == 3 and census.by_type[second] == 5
    assert first in census.by_type and object not in census.by_type
    snapshot = memprobe.snapshot()
    assert snapshot.objects_by_type[f"{__name__}.First"] == 3
    assert snapshot.objects_by_type[f"{__name__}.Second"] == 5
    del objs


def test_classes_that_share_a_name_add_up_in_a_snapshot():
    """Eight classes named Dup, made by a factory, one instance each."""
    def make():
        class Dup:
            pass
        return Dup

    instances = [make()() for _ in range(8)]
    counts = memprobe.snapshot().objects_by_type
    assert counts[f"{__name__}.test_classes_that_share_a_name_add_up_in_a_snapshot.<locals>.make.<locals>.Dup"] == 8
    del instances


def test_the_benchmarks_floor_walks_what_gc_state_counts():
    """_bare_walk (benchmarks only) visits exactly the objects of the lists
    asked for."""
    from memprobe import _memprobe

    state = memprobe.gc_state(frozen=True)
    lengths = [g.length for g in state.generations] + [state.permanent_length]
    # The older lists stand still (no automatic collection here); the
    # young one also holds what was made since.
    assert [_memprobe._bare_walk(1 << g) for g in (1, 2, 3)] == lengths[1:]
    assert 0 <= _memprobe._bare_walk(_memprobe.EVERY_LIST) - sum(lengths) <= 20
    assert 0 <= _memprobe._bare_walk(_memprobe.UNFROZEN_LISTS) - sum(lengths[:3]) <= 20
