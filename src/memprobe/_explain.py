"""explain(obj): one object's memory facts in plain English."""
from __future__ import annotations

import sys
from typing import List

from ._gc import gcinfo
from ._interpreter import allocator
from ._memprobe import refinfo
from ._pymalloc import block_info, getsizeof
from ._serialize import type_name
from ._snapshot import attempt
from ._types import Explanation, Generation, Rows

_GENERATION_WORDS = {
    Generation.GEN0: "in generation 0, the youngest: it has not survived a collection yet",
    Generation.GEN1: "in generation 1: it survived one collection",
    Generation.GEN2: "in generation 2, the oldest: it survived at least two collections",
    Generation.PERMANENT: "in the permanent generation: gc.freeze() moved it there and collections skip it",
    Generation.IN_COLLECTION: "held by the collection running right now",
    Generation.UNTRACKED: "of a type the collector can track, but it is not tracked "
                          "(it cannot be part of a cycle, e.g. a tuple or dict of atoms)",
    Generation.NOT_GC: "of a type the cyclic collector never tracks: reference counting alone frees it",
    Generation.YOUNG: "in the young generation (incremental collector)",
    Generation.OLD_VISITED: "in the old space the incremental collector has visited",
    Generation.OLD_PENDING: "in the old space the incremental collector has yet to visit",
    Generation.TRACKED: "tracked by the collector (free-threaded builds have no generations)",
}


def explain(obj: object) -> Explanation:
    """A short plain-English account of obj: reference count, immortality,
    collector state and where its memory block sits.  Everything is read
    first; the story is told from what was read."""
    info, ref_why = attempt(refinfo, obj)
    gc_facts, gc_why = attempt(gcinfo, obj)
    block, block_why = attempt(block_info, obj)
    kind, address, size = type_name(type(obj)), id(obj), getsizeof(obj)
    del obj      # the story is told from the facts alone
    lines: List[str] = []
    lines.append(f"A {kind} object at {address:#x}, "
                 + (f"{size} bytes by sys.getsizeof." if size is not None else "its own __sizeof__ fails."))

    if info is None:
        lines.append(f"Reference count: unavailable ({ref_why}).")
    else:
        if info.immortal:
            static = " and statically allocated" if info.static_immortal else ""
            lines.append(f"It is immortal{static}: its reference count field holds the sentinel {info.count:,}, "
                         "which Py_INCREF and Py_DECREF leave alone.")
        else:
            lines.append(f"Its reference count field reads {info.count}. That counts every strong reference, "
                         "including the ones this explain() call holds while it runs (its argument); "
                         "sys.getrefcount reports the same field.")
        if info.layout == "free-threaded" and not info.immortal:
            owner = f"thread {info.owner_tid:#x}" if info.owner_tid else "no thread"
            lines.append(f"Free-threaded count: {info.local} local (owned by {owner}) + {info.shared} shared "
                         f"({info.shared_state}).")
            if info.deferred_bias:
                lines.append(f"It uses deferred reference counting: the shared count carries a bias of "
                             f"{info.deferred_bias:,} until a collection, so its effective count is "
                             f"{info.effective}.")
        if sys.version_info < (3, 12):
            lines.append("Immortality does not exist before CPython 3.12.")

    if gc_facts is None:
        lines.append(f"Collector: unavailable ({gc_why}).")
    else:
        lines.append(f"Collector: it is {_GENERATION_WORDS[gc_facts.generation]}"
                     + (" Its finalizer has already run." if gc_facts.finalized else "") + ".")

    if block is None:
        if allocator().family == "mimalloc":
            lines.append("Allocator: mimalloc serves it; memprobe.mimalloc() shows its heaps, pages and "
                         "blocks per size.")
        else:
            lines.append(f"Allocator: {block_why}")
    else:
        before = f"{block.preheader} bytes of pre-header (GC head, managed dict/weakref pointers)"
        if block.debug_padding:
            before += f" and {block.debug_padding} bytes of debug padding"
        if block.pymalloc and block.block_size is not None:
            lines.append(
                f"Allocator: pymalloc serves it from a {block.block_size}-byte block (size class {block.size_class}) "
                f"in the pool at {block.pool:#x} of arena {block.arena_index} ({block.arena:#x}); "
                f"the block starts with {before}.")
            if block.getsizeof is not None and block.block_size < block.getsizeof:
                lines.append("sys.getsizeof is larger than the block: it also counts memory held in other "
                             "blocks (a list's items, a dict's table).")
        else:
            lines.append("Allocator: not a pymalloc block: statically allocated, larger than pymalloc's "
                         f"small-request threshold, or from another allocator ({before} before the object).")
    unavailable = Rows(f"{probe}: {why}" for probe, why in
                       (("refinfo", ref_why), ("gcinfo", gc_why), ("block_info", block_why)) if why is not None)
    return Explanation(kind, address, size, info, gc_facts, block, unavailable, Rows(lines))
