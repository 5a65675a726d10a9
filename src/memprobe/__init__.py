"""memprobe: exact memory facts read straight out of the running CPython.

>>> import memprobe
>>> memprobe.refcount(None) == __import__("sys").getrefcount(None)
True
"""
from __future__ import annotations

import sys

from . import _memprobe
from ._memprobe import (
    MemprobeError,
    PymallocUnavailable,
    UnsupportedInterpreter,
    census,
    gc_state,
    gcinfo,
    generation,
    generations,
    refcount,
    refinfo,
)
from ._explain import explain
from ._mimalloc import MimallocUnavailable, mimalloc
from ._pymalloc import arenas, block_info, pymalloc
from ._snapshot import SizeClassDelta, Snapshot, SnapshotDiff, SnapshotMismatch, measure, snapshot
from ._types import (
    ArenaInfo,
    ArenaMap,
    ArenaSizeClass,
    BlockInfo,
    Census,
    GCInfo,
    GCState,
    Generation,
    GenerationState,
    Interpreter,
    MimallocSizeClass,
    MimallocSnapshot,
    PymallocConstants,
    PoolInfo,
    PymallocSnapshot,
    RefInfo,
    SizeClass,
)

__all__ = [
    "ArenaInfo",
    "ArenaMap",
    "ArenaSizeClass",
    "BlockInfo",
    "Census",
    "GCInfo",
    "GCState",
    "Generation",
    "GenerationState",
    "Interpreter",
    "MemprobeError",
    "MimallocSizeClass",
    "MimallocSnapshot",
    "MimallocUnavailable",
    "PoolInfo",
    "PymallocConstants",
    "PymallocSnapshot",
    "PymallocUnavailable",
    "RefInfo",
    "SizeClass",
    "SizeClassDelta",
    "Snapshot",
    "SnapshotDiff",
    "SnapshotMismatch",
    "UnsupportedInterpreter",
    "arenas",
    "block_info",
    "census",
    "explain",
    "gc_state",
    "gcinfo",
    "generation",
    "generations",
    "interpreter",
    "measure",
    "mimalloc",
    "pymalloc",
    "refcount",
    "refinfo",
    "snapshot",
]

__version__ = "0.1.0"


def interpreter() -> Interpreter:
    """Describe the running interpreter: version, build, allocator, GC regime."""
    facts = _memprobe._interpreter_facts()
    pymalloc = facts["pymalloc"]
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    hexversion = facts["runtime_hexversion"]
    return Interpreter(
        version=(hexversion >> 24, (hexversion >> 16) & 0xFF, (hexversion >> 8) & 0xFF),
        hexversion=hexversion,
        compiled_hexversion=facts["compiled_hexversion"],
        debug_build=facts["debug_build"],
        free_threaded=facts["free_threaded"],
        gil_enabled=True if is_gil_enabled is None else bool(is_gil_enabled()),
        allocator=facts["allocator"] or "hooked",
        gc_regime=facts["gc_regime"],
        pymalloc=None if pymalloc is None else PymallocConstants(**pymalloc),
        layout_problems=dict(facts["layout_problems"]),
    )
