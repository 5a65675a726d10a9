"""Lessons: classic claims about CPython's memory management, checked live.

Each lesson is a function that measures something on the running
interpreter with memprobe and sys/gc and returns a ``LessonResult``: the
claim, what the claim predicts, what was measured, and whether the claim
holds here, with the reason.  ``python -m memprobe lessons [NAME]`` prints
them; ``LESSONS`` maps each name to its function.
"""
from __future__ import annotations

import gc
import subprocess
import sys
import tracemalloc as _tracemalloc
import weakref as _weakref
from typing import Callable, Dict, List

from ._gc import generation, paused_collector
from ._interpreter import allocator, pymalloc_constants
from ._memprobe import MemprobeError, refinfo
from ._memprobe import refcount as _refcount
from ._mimalloc import mimalloc
from ._pymalloc import block_info, capture_debugmallocstats, pymalloc
from ._types import Generation, LessonResult

__all__ = ["LESSONS", "LessonResult"]


def refcount() -> LessonResult:
    def fresh_local() -> int:
        x = object()
        return _refcount(x)

    count = fresh_local()
    holds = count == 2
    why = ("the local name holds one reference and the call's argument a second, temporary one"
           if holds else
           "from 3.14 the compiler passes locals to calls as borrowed references, so the argument adds nothing")
    return LessonResult("refcount", "sys.getrefcount(x) is always one higher than the references you hold, "
                        "because the call's argument holds a temporary reference",
                        "2 for a fresh object held by one local variable", f"{count}", holds, why)


def cycle() -> LessonResult:
    class Node:
        other: "Node"

    with paused_collector():
        a, b = Node(), Node()
        a.other, b.other = b, a
        alive = _weakref.ref(a)
        del a, b
        after_del = alive() is not None
        freed = gc.collect()
        after_collect = alive() is not None
    holds = after_del and not after_collect
    return LessonResult(
        "cycle", "a two-node reference cycle survives `del` and is freed only by the cyclic collector",
        "alive after del, gone after gc.collect()",
        f"alive after del: {after_del}; alive after gc.collect(): {after_collect} ({freed} objects collected)",
        holds, "each node keeps the other's count above zero; only the collector's traversal finds them unreachable")


def promotion() -> LessonResult:
    class Thing:
        pass

    with paused_collector():
        x = Thing()
        seen = [generation(x)]
        gc.collect(0)
        seen.append(generation(x))
        gc.collect(1)
        seen.append(generation(x))
    expected = [Generation.GEN0, Generation.GEN1, Generation.GEN2]
    holds = seen == expected
    why = ("survivors of a collection of generation n move to n+1" if holds else
           "this collector does not promote one generation per collection (incremental or free-threaded regime)")
    return LessonResult("promotion", "an object that survives a collection moves up one generation",
                        "0 when new, 1 after gc.collect(0), 2 after gc.collect(1)",
                        ", ".join(str(int(g)) for g in seen), holds, why)


def thresholds() -> LessonResult:
    with paused_collector():
        before = gc.get_count()[0]
        made: List[List[object]] = [[] for _ in range(100)]
        after = gc.get_count()[0]
        del made
    threshold = gc.get_threshold()[0]
    counted = after - before
    # Deallocations count down, so the few temporaries the loop frees make
    # the count land near, not exactly on, 100.
    holds = threshold == 700 and 90 <= counted <= 110
    why = (f"generation 0 is collected after {threshold} net container allocations, and "
           f"gc.get_count()[0] moved by {counted} for 100 new lists (allocations minus deallocations)")
    if threshold != 700:
        why += "; CPython 3.13 raised the threshold from 700 to 2000"
    return LessonResult("thresholds", "generation 0's threshold is 700 allocations, counted by gc.get_count()[0]",
                        "gc.get_threshold()[0] == 700; get_count()[0] grows by about 100 for 100 new lists",
                        f"threshold {threshold}; count grew by {counted}", holds, why)


# Measured in a fresh interpreter: gc.freeze() and gc.unfreeze() act on
# every object, and the lesson must not change the program's own collector
# state (unfreeze its frozen objects, promote its young ones).
_FREEZE_CHILD = """
import gc, memprobe
class Thing:
    pass
x = Thing()
gc.disable()
gc.freeze()
frozen, count = memprobe.generation(x), gc.get_freeze_count()
gc.unfreeze()
print(frozen.name, count, memprobe.generation(x).name)
"""


def freeze() -> LessonResult:
    out = subprocess.run([sys.executable, "-c", _FREEZE_CHILD], stdout=subprocess.PIPE, text=True, check=True,
                         timeout=120).stdout.split()
    frozen_name, count, after_name = out[0], int(out[1]), out[2]
    holds = frozen_name == Generation.PERMANENT.name and count > 0 and after_name != Generation.PERMANENT.name
    return LessonResult("freeze", "gc.freeze() moves every tracked object into a permanent generation that "
                        "collections ignore; gc.unfreeze() puts them back in the oldest generation",
                        "PERMANENT after freeze(), generation 2 after unfreeze()",
                        f"{frozen_name} after freeze() ({count:,} objects frozen), {after_name} after unfreeze() "
                        "(in a fresh interpreter, so this program's collector state is left alone)",
                        holds, "used before fork() so children do not touch (and copy) the parent's old objects")


def arenas() -> LessonResult:
    constants = pymalloc_constants()
    if constants is None:
        return LessonResult("arenas", "pymalloc arenas are 256 KiB made of 4 KiB pools; requests up to 512 "
                            "bytes are served by pymalloc", "256 KiB / 4 KiB / 512", "pymalloc is not compiled in",
                            False, "this build has no pymalloc")
    measured = (f"arenas {constants.arena_size // 1024} KiB, pools {constants.pool_size // 1024} KiB, "
                f"threshold {constants.small_request_threshold} bytes")
    small_served = None
    try:
        serving = allocator()
        pad = 24 if serving.family == "pymalloc" and serving.debug else 0
        at_limit = bytes(512 - 33 - pad)  # sys.getsizeof == 512 with the debug words
        over = bytes(513 - 33 - pad)
        small_served = block_info(at_limit).pymalloc and not block_info(over).pymalloc
        measured += f"; a {512 - pad}-byte bytes object is a pymalloc block, a {513 - pad}-byte one is not"
    except MemprobeError as exc:
        measured += f" (block check unavailable: {exc})"
    holds = (constants.arena_size, constants.pool_size, constants.small_request_threshold) == (256 * 1024, 4096, 512)
    why = ("3.10 switched 64-bit builds to 1 MiB arenas and 16 KiB pools (radix-tree arena map); "
           "the 512-byte threshold is unchanged" if not holds else "this is the layout of CPython 3.9 and earlier")
    if small_served is False:
        holds = False
    return LessonResult("arenas", "pymalloc arenas are 256 KiB made of 4 KiB pools; requests up to 512 bytes "
                        "are served by pymalloc", "256 KiB / 4 KiB / 512 bytes", measured, holds, why)


def interning() -> LessonResult:
    text = "".join(["mem", "probe"])
    seven = 7
    small_shared = int("7") is seven
    interned = sys.intern(text) is sys.intern("".join(["mem", "probe"]))
    small_immortal = refinfo(7).immortal
    str_immortal = refinfo(sys.intern(text)).immortal
    holds = small_shared and small_immortal
    measured = (f"int('7') is 7: {small_shared}; 7 immortal: {small_immortal}; "
                f"sys.intern shares strings: {interned}; an interned string immortal: {str_immortal}")
    why = ("small ints are preallocated singletons, immortal since 3.12" if holds else
           "small ints are cached singletons, but immortality only arrived in 3.12: their counts still move")
    return LessonResult("interning", "small ints (-5 to 256) are cached singletons and immortal",
                        "int('7') is 7, and 7 is immortal", measured, holds, why)


def slots() -> LessonResult:
    class WithDict:
        def __init__(self) -> None:
            self.a, self.b = 1, 2

    class WithSlots:
        __slots__ = ("a", "b")

        def __init__(self) -> None:
            self.a, self.b = 1, 2

    d, s = WithDict(), WithSlots()

    def per_instance_by_mimalloc(cls: type) -> int:
        # mimalloc has no per-block probe: measure 2,000 instances at once.
        before = mimalloc()
        keep = [cls() for _ in range(2000)]
        grown = mimalloc().bytes_in_use - before.bytes_in_use - sys.getsizeof(keep)
        return round(grown / len(keep))

    def per_instance_traced(cls: type) -> int:
        # Any allocator: the bytes 2,000 instances request, as tracemalloc
        # sees them (each instance's own block and, before 3.13, its dict's).
        was_tracing = _tracemalloc.is_tracing()
        if not was_tracing:
            _tracemalloc.start()
        try:
            before = _tracemalloc.get_traced_memory()[0]
            keep = [cls() for _ in range(2000)]
            grown = _tracemalloc.get_traced_memory()[0] - before - sys.getsizeof(keep)
        finally:
            if not was_tracing:
                _tracemalloc.stop()
        return round(grown / len(keep))

    def footprint(obj: object) -> int:
        try:
            size = block_info(obj).block_size
        except MemprobeError:
            size = None
        if size is None:    # not in a pymalloc block, or not readable
            if allocator().family == "mimalloc":
                return per_instance_by_mimalloc(type(obj))
            return per_instance_traced(type(obj))
        # A materialised __dict__ is a separate object (before 3.13 it always is).
        if sys.version_info < (3, 13) and hasattr(obj, "__dict__"):
            size += sys.getsizeof(obj.__dict__)
        return size

    dict_size, slots_size = footprint(d), footprint(s)
    holds = slots_size < dict_size
    return LessonResult("slots", "__slots__ instances are smaller than instances with a __dict__",
                        "slots footprint < dict footprint", f"__slots__: {slots_size} bytes; __dict__: {dict_size} "
                        "bytes (pymalloc block size plus a separate __dict__ before 3.13 where known, else bytes per "
                        "instance as mimalloc or tracemalloc counts them)",
                        holds, "slots are fixed fields in the object; a __dict__ needs a table (3.13+: inline values "
                        "in a larger block)")


def weakref() -> LessonResult:
    class Thing:
        pass

    x = Thing()
    before = _refcount(x)
    r = _weakref.ref(x)
    after = _refcount(x)
    holds = after == before and r() is x
    return LessonResult("weakref", "a weak reference does not add to the reference count",
                        f"the count stays at {before}", f"{before} before weakref.ref(x), {after} after",
                        holds, "weak references are tracked in a separate list, not counted")


def tracemalloc() -> LessonResult:
    # What serves underneath, told before the hooks hide the allocator's
    # name (3.12+ also tells under hooks, from a block).
    underneath = allocator().family
    was_tracing = _tracemalloc.is_tracing()
    if not was_tracing:
        _tracemalloc.start()
    try:
        hidden = "arenas allocated" not in capture_debugmallocstats()
        before = sys.getallocatedblocks()
        keep: List[List[object]] = [[] for _ in range(5000)]
        grew = sys.getallocatedblocks() - before
        try:
            still_reads = f"; memprobe still reads {pymalloc().arenas_current} arenas"
        except MemprobeError:
            still_reads = ""
        del keep
    finally:
        if not was_tracing:
            _tracemalloc.stop()
    # net of the few temporaries freed meanwhile
    holds = hidden and grew >= 4500 and underneath == "pymalloc"
    measured = (f"arena section printed under tracemalloc: {not hidden}; allocated blocks grew by {grew:,} "
                f"for 5,000 new lists{still_reads}; serving underneath: {underneath or 'not known'}")
    why = ("tracemalloc wraps the allocator, so _debugmallocstats sees a hooked allocator and prints nothing, "
           "while pymalloc still serves every block underneath" if holds else
           "debug builds keep printing the report under tracemalloc: their debug layer sits between the hooks "
           "and pymalloc" if not hidden else "pymalloc did not serve the allocations")
    return LessonResult("tracemalloc", "with tracemalloc on, sys._debugmallocstats() loses its arena section, "
                        "yet pymalloc keeps serving allocations",
                        "no arena section; block count still grows", measured, holds, why)


LESSONS: Dict[str, Callable[[], LessonResult]] = {
    "refcount": refcount,
    "cycle": cycle,
    "promotion": promotion,
    "thresholds": thresholds,
    "freeze": freeze,
    "arenas": arenas,
    "interning": interning,
    "slots": slots,
    "weakref": weakref,
    "tracemalloc": tracemalloc,
}

