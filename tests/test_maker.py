"""maker(): the fast constructor memprobe's hot probes build results with.
An instance it makes is the same value as one made through the class's own
constructor: equal, same hash, same repr, copies and pickles the same."""
import copy
import pickle

import pytest

from memprobe import GCInfo, Generation, GCState, GenerationState, SizeClass, _memprobe
from memprobe._types import maker

GCINFO_VALUES = (True, Generation.GEN2, False, False, None)


def test_a_made_dataclass_is_the_one_init_makes():
    new, _ = maker(GCInfo)
    made, built = new(*GCINFO_VALUES), GCInfo(*GCINFO_VALUES)
    assert type(made) is GCInfo
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert copy.copy(made) == built and pickle.loads(pickle.dumps(made)) == built
    with pytest.raises(AttributeError):
        made.tracked = False          # still frozen


def test_a_made_named_tuple_is_the_one_new_makes():
    new, rows = maker(SizeClass)
    made = new(3, 32, 2, 10, 5)
    assert type(made) is SizeClass and made == SizeClass(3, 32, 2, 10, 5)
    assert hash(made) == hash((3, 32, 2, 10, 5))    # 3.14 caches a tuple's hash
    assert rows((1, 16, 1, 1, 1, 2, 24, 1, 2, 3)) == (SizeClass(1, 16, 1, 1, 1), SizeClass(2, 24, 1, 2, 3))
    assert rows(()) == ()


def test_nested_results_are_made_the_same_way():
    new_state, _ = maker(GCState)
    _, generation_rows = maker(GenerationState)
    gens = generation_rows((0, 1, 700, 5, 1, 2, 10, 6, 2, 3, 10, 7))
    assert gens[2] == GenerationState(2, 3, 10, 7)
    state = new_state("generational", True, False, gens, 0, 1, 2, None)
    assert state == GCState("generational", True, False, gens, 0, 1, 2, None)


def test_wrong_numbers_of_values_are_refused():
    new, rows = maker(GCInfo)
    with pytest.raises(TypeError, match="takes 5 values"):
        new(True)
    with pytest.raises(ValueError, match="not rows of 5"):
        rows((1, 2, 3))
    with pytest.raises(TypeError, match="takes a tuple"):
        rows([1, 2, 3, 4, 5])


def test_only_memprobes_result_types_and_their_own_slots_can_be_filled():
    """A class that needs its base's constructor (a dict or set subclass, a
    struct sequence with hidden fields) must never be made by allocation
    alone: only memprobe's registered result types are accepted."""
    import os

    class Slotted:
        __slots__ = ("a",)

    for cls in (Slotted, type("D", (dict,), {}), os.stat_result, int):
        with pytest.raises(TypeError, match="not one of memprobe's result types"):
            _memprobe._maker(cls, ())
    with pytest.raises(TypeError, match="has no slot 'nope'"):
        _memprobe._maker(GCInfo, ("nope",))
    with pytest.raises(TypeError, match="twice"):
        _memprobe._maker(GCInfo, ("tracked", "tracked"))
    with pytest.raises(TypeError, match="must be str"):
        _memprobe._maker(GCInfo, (1,))


def test_the_maker_type_cannot_be_made_from_python():
    new, _ = maker(GCInfo)
    with pytest.raises((TypeError, RuntimeError)):
        type(new.__self__)().new()
