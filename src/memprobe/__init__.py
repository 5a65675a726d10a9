"""memprobe: exact memory facts read straight out of the running CPython.

>>> import memprobe
>>> memprobe.refcount(None) == __import__("sys").getrefcount(None)
True
"""
from __future__ import annotations

from . import _memprobe, _types
from ._attach import attach
from ._explain import explain
from ._gc import census, gc_state, gcinfo, generation, generations
from ._inject import inject
from ._interpreter import interpreter
from ._memprobe import (
    MemprobeError,
    MimallocUnavailable,
    PymallocUnavailable,
    UnsupportedInterpreter,
    refcount,
    refinfo,
)
from ._mimalloc import mimalloc
from ._pymalloc import arenas, block_census, block_info, fragmentation, pymalloc
from ._report import report
from ._rss import rss
from ._snapshot import measure, snapshot
from ._timeline import timeline
from ._types import (
    ArenaHolders,
    ArenaInfo,
    AttachError,
    ArenaMap,
    BlockCensus,
    ArenaSizeClass,
    BlockInfo,
    Census,
    Collection,
    Explanation,
    Fragmentation,
    GCInfo,
    GCState,
    Generation,
    GenerationState,
    InjectedReport,
    Interpreter,
    LessonResult,
    MimallocClassDelta,
    MimallocSizeClass,
    MimallocSnapshot,
    OccupancyBucket,
    PoolInfo,
    PymallocConstants,
    Report,
    PymallocSnapshot,
    RefInfo,
    RemoteSnapshot,
    RemoteTypeCount,
    ResidentMemory,
    SizeClass,
    SizeClassDelta,
    Snapshot,
    SnapshotDiff,
    Timeline,
    SnapshotMismatch,
    SparseArena,
    TypeCounts,
)

# refinfo() is called directly and builds RefInfo itself (see parts.h).
# (_types registers memprobe's own result types: census() leaves them out.)
_memprobe._set_refinfo_type(RefInfo)
# A measure or timeline (and the one a name held before) is memprobe's own
# too: what snapshots and censuses count leaves their instances out.
_types.OWN_TYPES += (measure, timeline)
_memprobe._set_own_types(_types.OWN_TYPES)

__all__ = [
    "ArenaHolders",
    "ArenaInfo",
    "ArenaMap",
    "AttachError",
    "BlockCensus",
    "ArenaSizeClass",
    "BlockInfo",
    "Census",
    "Collection",
    "Explanation",
    "Fragmentation",
    "GCInfo",
    "GCState",
    "Generation",
    "GenerationState",
    "InjectedReport",
    "Interpreter",
    "LessonResult",
    "MemprobeError",
    "MimallocClassDelta",
    "MimallocSizeClass",
    "MimallocSnapshot",
    "MimallocUnavailable",
    "OccupancyBucket",
    "PoolInfo",
    "PymallocConstants",
    "PymallocSnapshot",
    "PymallocUnavailable",
    "RefInfo",
    "RemoteSnapshot",
    "RemoteTypeCount",
    "Report",
    "ResidentMemory",
    "SizeClass",
    "SizeClassDelta",
    "Snapshot",
    "SnapshotDiff",
    "SnapshotMismatch",
    "SparseArena",
    "Timeline",
    "TypeCounts",
    "UnsupportedInterpreter",
    "arenas",
    "attach",
    "block_census",
    "block_info",
    "census",
    "explain",
    "fragmentation",
    "gc_state",
    "inject",
    "gcinfo",
    "generation",
    "generations",
    "interpreter",
    "measure",
    "mimalloc",
    "pymalloc",
    "refcount",
    "refinfo",
    "report",
    "rss",
    "snapshot",
    "timeline",
]

__version__ = "0.1.0"
