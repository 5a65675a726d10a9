"""interpreter() and the allocator serving allocations now.

The build facts (versions, build kind, pymalloc's constants) cannot change
while the process runs and are read once; the allocator (tracemalloc may
hook it at any time), whether the GIL is enabled and the layout checks'
results are read on every call.
"""
from __future__ import annotations

import sys
from typing import NamedTuple, Optional

from . import _memprobe
from ._memprobe import PymallocUnavailable
from ._types import Interpreter, PymallocConstants, Table

(COMPILED_HEXVERSION, HEXVERSION, DEBUG_BUILD, FREE_THREADED, GC_REGIME, _PYMALLOC,
 PYMALLOC_STATE_READABLE) = _memprobe._interpreter_facts()
VERSION = (HEXVERSION >> 24, (HEXVERSION >> 16) & 0xFF, (HEXVERSION >> 8) & 0xFF)
BUILD = "debug" if DEBUG_BUILD else "release"
if FREE_THREADED:
    BUILD += " free-threaded"


class Allocator(NamedTuple):
    """The allocator serving PyObject_Malloc now.

    ``name`` as ``Interpreter.allocator`` reports it (``"hooked"`` when hooks
    such as tracemalloc hide it); ``family`` is ``"pymalloc"``, ``"malloc"``
    or ``"mimalloc"``, ``"other"`` when hooks wrap an allocator that is not
    pymalloc (3.12+ tells from a block), or ``None`` when nothing tells what
    serves under the hooks; ``debug`` is True when a ``_debug`` layer pads
    every block.
    """

    name: str
    family: Optional[str]
    debug: bool

    @property
    def hooked(self) -> bool:
        return self.name == "hooked"


def allocator() -> Allocator:
    """The allocator now, as the extension decides it."""
    name, family, debug = _memprobe._allocator()
    return Allocator(name or "hooked", family, debug)


# Compiled in, and checked once at import: built once.
_CONSTANTS = None if _PYMALLOC is None else PymallocConstants(*_PYMALLOC)


def pymalloc_constants() -> Optional[PymallocConstants]:
    """pymalloc's compiled constants, or None when it is not compiled in.
    ``verified`` says whether the import-time check could compare them."""
    return _CONSTANTS


def required_constants() -> PymallocConstants:
    if _CONSTANTS is None:
        raise PymallocUnavailable("pymalloc is not compiled into this interpreter")
    return _CONSTANTS


def block_size(class_index: int) -> int:
    """The block size of one pymalloc size class (INDEX2SIZE)."""
    return (class_index + 1) * required_constants().alignment


def pool_capacity(class_index: int) -> int:
    """Blocks one pymalloc pool of this size class holds (NUMBLOCKS)."""
    c = required_constants()
    return (c.pool_size - c.pool_overhead) // block_size(class_index)


def interpreter() -> Interpreter:
    """Describe the running interpreter: version, build, allocator, GC regime."""
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return Interpreter(
        version=VERSION,
        hexversion=HEXVERSION,
        compiled_hexversion=COMPILED_HEXVERSION,
        debug_build=DEBUG_BUILD,
        free_threaded=FREE_THREADED,
        gil_enabled=True if is_gil_enabled is None else bool(is_gil_enabled()),
        allocator=allocator().name,
        gc_regime=GC_REGIME,
        pymalloc=pymalloc_constants(),
        layout_problems=Table(_memprobe._layout_problems()),
    )


def describe() -> str:
    """'CPython 3.12.1 release', the way snapshots and titles name it."""
    return f"CPython {'.'.join(map(str, VERSION))} {BUILD}"
