"""The collector on free-threaded builds: no generations, only the ob_gc_bits
byte of each object (tracked, finalized, frozen, ...), and a collector whose
counters and thresholds gc.get_count()/get_threshold() report.  Each promise
is checked against the gc module."""
import collections
import gc

import pytest

import memprobe
from memprobe import Generation
from _support import HAVE_GC_FLAG, needs_free_threading


@needs_free_threading
def test_gc_bits_agree_with_is_tracked_for_tracked_and_untracked_objects():
    tracked, untracked = [1], (1, 2)
    gc.collect()   # untracks tuples of atoms
    for obj in (tracked, untracked, {}, {"a": []}, object(), 5):
        info = memprobe.gcinfo(obj)
        assert info.tracked == gc.is_tracked(obj)
        if gc.is_tracked(obj):
            assert info.generation == Generation.TRACKED
            assert info.gc_bits & 1
        elif type(obj).__flags__ & HAVE_GC_FLAG:
            assert info.generation == Generation.UNTRACKED
            assert not info.gc_bits & 1
        else:
            assert info.generation == Generation.NOT_GC


@needs_free_threading
def test_gc_bits_agree_with_is_finalized():
    class WithDel:
        def __del__(self):
            pass

    obj = WithDel()
    assert not memprobe.gcinfo(obj).finalized and not gc.is_finalized(obj)
    obj.__del__()   # calling it does not set the bit; the collector does
    cycle = [WithDel()]
    cycle.append(cycle)
    survivor = cycle[0]
    survivor.keep = survivor   # a cycle the finalizer will not break
    del cycle
    gc.collect()
    assert memprobe.gcinfo(survivor).finalized == gc.is_finalized(survivor)


@needs_free_threading
def test_gc_freeze_sets_the_frozen_bit_and_census_skips_frozen_objects():
    obj = [object()]
    before = memprobe.census().total
    gc.freeze()
    try:
        info = memprobe.gcinfo(obj)
        assert info.frozen and info.generation == Generation.PERMANENT
        assert info.gc_bits & 8
        assert gc.get_freeze_count() > 0
        assert memprobe.census().total < before
    finally:
        gc.unfreeze()
    assert memprobe.gcinfo(obj).generation == Generation.TRACKED


@needs_free_threading
def test_census_counts_what_gc_get_objects_lists():
    gc.collect()
    objs = gc.get_objects()
    listed = collections.Counter(type(o) for o in objs)
    census = memprobe.census()
    assert set(census.by_generation) == {Generation.TRACKED}
    assert abs(census.total - len(objs)) <= 100   # objects made and freed in between
    for tp, n in listed.most_common(5):
        assert abs(census.by_type[tp] - n) <= 100   # pytest's own objects come and go
    with pytest.raises(ValueError, match="no generations"):
        memprobe.census(generation=0)


@needs_free_threading
def test_gc_state_counts_and_thresholds_match_gc_module():
    gc.disable()   # no automatic collection between the two reads
    try:
        state = memprobe.gc_state()
        count = gc.get_count()
    finally:
        gc.enable()
    assert state.regime == "free-threaded"
    assert tuple(g.threshold for g in state.generations) == gc.get_threshold()
    # The young count moves with every allocation and deallocation (and goes
    # negative when more objects die than are born); between the two reads
    # only the few objects of the first result are made.
    assert abs(state.generations[0].count - count[0]) <= 20
    assert tuple(g.count for g in state.generations[1:]) == count[1:]
    assert all(g.length is None for g in state.generations)
