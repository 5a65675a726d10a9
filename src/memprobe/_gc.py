"""The collector probes: typed results from the plain data the extension
reads (gc.c, gc_lists.c / gc_bits.c, census.c).

Each probe calls the extension before it creates anything: no local a
comprehension closes over (before 3.12 those are cells, made when the
function starts, and young objects in the lists being read), and no
f(*args) around the call (its argument list is built first)."""
from __future__ import annotations

import gc
from itertools import compress
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from . import _memprobe
from ._interpreter import FREE_THREADED, GC_REGIME
from ._types import Census, GCInfo, GCState, Generation, GenerationState, Rows, Table, TypeCounts, maker

# Generation members by code, so a lookup builds nothing.
_MEMBERS: Dict[int, Generation] = {int(g): g for g in Generation}
_OUTSIDE = (Generation.NOT_GC, Generation.UNTRACKED)
_GCINFO = maker(GCInfo)[0]
_CENSUS = maker(Census)[0]
_GC_STATE = maker(GCState)[0]
_GENERATIONS = maker(GenerationState)[1]


def generation(obj: object, /) -> Generation:
    """Where obj is in the cyclic collector now."""
    return _MEMBERS[_memprobe._generation(obj)]


def gcinfo(obj: object, /) -> GCInfo:
    """obj's facts in the collector: tracked, generation, finalized, frozen."""
    code, finalized, gc_bits = _memprobe._gcinfo(obj)
    where = _MEMBERS[code]
    # GCInfo(tracked, generation, finalized, frozen, gc_bits)
    return _GCINFO(where not in _OUTSIDE, where, finalized, where is Generation.PERMANENT, gc_bits)


def generations(objs: Iterable[object], /) -> List[Generation]:
    """The Generation of each object, in one pass over the collector's lists."""
    return [_MEMBERS[code] for code in _memprobe._generations(objs)]


def gc_state(frozen: bool = False, lengths: bool = True) -> GCState:
    """One snapshot of the collector: flags, counts, thresholds, list
    lengths.  ``permanent_length`` is walked only with ``frozen=True`` (it
    is 0 without a walk when nothing is frozen, else None); with
    ``lengths=False`` generations 0-2 are not walked and their lengths not
    known without a walk are None (``frozen=True`` still walks the
    permanent list)."""
    check_flag("lengths", lengths)
    lists = _lists(None, frozen)
    if not lengths:
        lists &= ~_memprobe.UNFROZEN_LISTS
    return gc_state_from(_memprobe._gc_state(lists))


def gc_state_from(raw: Tuple[Any, ...]) -> GCState:
    """The typed state from what _gc_state() (or _snapshot()) read."""
    enabled, collecting, counts, thresholds, lengths, total, pending, heap_size = raw
    # GenerationState(generation, count, threshold, length) for 0, 1, 2
    generations = Rows(_GENERATIONS((0, counts[0], thresholds[0], lengths[0],
                                     1, counts[1], thresholds[1], lengths[1],
                                     2, counts[2], thresholds[2], lengths[2])))
    # GCState(regime, enabled, collecting, generations, permanent_length,
    #         long_lived_total, long_lived_pending, heap_size)
    return _GC_STATE(GC_REGIME, enabled, collecting, generations, lengths[3], total, pending, heap_size)


class paused_collector:
    """Automatic collections off while a lesson or a leak check measures
    (no collection frees older garbage in the middle); restored after."""

    # One size of block for every instance (a dict's inline values vary):
    # snapshots count the one alive while they read.
    __slots__ = ("was_enabled",)

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was_enabled:
            gc.enable()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def census(generation: Optional[int] = None, top: Optional[int] = None, frozen: bool = False) -> Census:
    """Tracked objects per type and per generation, counted in C without
    listing them.  ``generation`` is 0, 1, 2 or 3 (permanent), or None for
    every list; ``top`` keeps the N most common types of each mapping.

    With ``generation=None`` the permanent generation (what ``gc.freeze()``
    froze, possibly most of a forked server's heap) is counted only when
    ``frozen`` is true or it is empty; otherwise it is missing from
    ``by_generation``, not zero."""
    _check_census_arguments(generation, top)
    raw = _memprobe._census(_lists(generation, frozen))
    return _census_result(generation, top, raw)


def check_flag(name: str, value: object) -> None:
    """A yes/no argument must be a bool (a truthy str or list is a mistake)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")


def _lists(generation: Optional[int], frozen: bool) -> int:
    """The set of lists to read, as the extension's bits (bit g: list g)."""
    check_flag("frozen", frozen)
    if generation is not None:
        return 1 << generation
    return _memprobe.EVERY_LIST if frozen else _memprobe.UNFROZEN_LISTS


def _check_census_arguments(generation: Optional[int], top: Optional[int]) -> None:
    if generation is not None:
        if not _is_int(generation):
            raise TypeError("generation must be None or an int 0-3")
        if not 0 <= generation <= 3:
            raise ValueError(f"generation must be 0, 1, 2 or 3 (permanent), not {generation}")
        if FREE_THREADED:
            raise ValueError("free-threaded builds have no generations: census() counts every "
                             "tracked object that is not frozen; pass generation=None")
    if top is not None:
        if not _is_int(top):
            raise TypeError("top must be None or an int")
        if top < 0:
            raise ValueError("top must be >= 0")


def _census_result(generation: Optional[int], top: Optional[int], raw: Tuple[bool, Tuple[Any, ...]]) -> Census:
    collecting, (codes, types, columns, totals, own, known) = raw
    lists = tuple(compress(range(len(codes)), known)) if generation is None else (generation,)
    members = [_MEMBERS[codes[i]] for i in lists]
    # Rows, not the extension's tuples: memprobe's own, left out of censuses.
    types = Rows(types)
    ranked = TypeCounts.ranked
    per_generation = Table(zip(members, [ranked(types, Rows(columns[i]), top) for i in lists]))
    # by_type: the one list asked for, or every list but the permanent one
    # (the extension's last column).
    by_type = ranked(types, Rows(columns[-1 if generation is None else generation]), top)
    # Census(generation, by_type, by_generation, per_generation, memprobe_objects, collecting)
    return _CENSUS(None if generation is None else _MEMBERS[codes[generation]], by_type,
                   Table(zip(members, [totals[i] for i in lists])), per_generation,
                   Table(zip(members, [own[i] for i in lists])), collecting)
