"""Result types of memprobe's probes, declared once.

Every result is a frozen dataclass: fields are plain ints, bools and strs,
so results compare, hash and print predictably.  A field that does not
exist on the running interpreter's layout is ``None``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class RefInfo:
    """The reference count field of one object, decoded for this interpreter.

    ``count`` is what ``sys.getrefcount(obj)`` reports when called the same
    way.  ``layout`` names the field's shape:

    - ``"classic"`` (3.9-3.11): one ``Py_ssize_t``; ``word`` is it.
    - ``"split"`` (3.12, 3.13): ``word`` is the 64-bit field, ``low`` and
      ``high`` its 32-bit halves; immortal when ``low`` has bit 31 set.
    - ``"flags"`` (3.14+): ``low`` is the 32-bit ``ob_refcnt`` (the count),
      ``overflow`` and ``flags`` the two 16-bit fields beside it; immortal
      when ``low >= 2**31``; ``static_immortal`` when the statically
      allocated flag (4) is set in ``flags``.
    - ``"free-threaded"``: ``local`` (owner thread's count), ``shared``
      (other threads' count, decoded, may be negative), ``shared_state``,
      ``owner_tid`` and ``deferred``; immortal when ``local == 2**32 - 1``.
    """

    count: int
    immortal: bool
    static_immortal: bool
    layout: str
    word: Optional[int]
    low: Optional[int]
    high: Optional[int]
    overflow: Optional[int]
    flags: Optional[int]
    local: Optional[int]
    shared: Optional[int]
    shared_state: Optional[str]
    owner_tid: Optional[int]
    deferred: Optional[bool]


@dataclass(frozen=True)
class PymallocConstants:
    """pymalloc's compiled constants.

    ``verified`` is True when they were checked against the interpreter's own
    ``_PyObject_DebugMallocStats`` report at import (impossible while
    pymalloc is not the active allocator or hooks such as tracemalloc hide
    it).
    """

    arena_size: int
    pool_size: int
    alignment: int
    small_request_threshold: int
    size_classes: int
    verified: bool


@dataclass(frozen=True)
class Interpreter:
    """The running interpreter, as memprobe sees it.

    ``allocator`` is ``"pymalloc"``, ``"malloc"``, ``"mimalloc"``, one of
    their ``"_debug"`` forms, or ``"hooked"`` when hooks such as tracemalloc
    have replaced the allocator.  ``gc_regime`` is ``"generational"``,
    ``"incremental"`` (3.14.0-3.14.4) or ``"free-threaded"``, decided from
    the runtime version.  ``layout_problems`` maps each part whose
    import-time check failed (``"version"``, ``"refcount"``, ``"gc"``,
    ``"pymalloc"``) to the reason; probes needing that part raise
    ``UnsupportedInterpreter``.
    """

    version: Tuple[int, int, int]
    hexversion: int
    compiled_hexversion: int
    debug_build: bool
    free_threaded: bool
    gil_enabled: bool
    allocator: str
    gc_regime: str
    pymalloc: Optional[PymallocConstants]
    layout_problems: Dict[str, str]

    def __hash__(self) -> int:
        return hash((self.hexversion, self.compiled_hexversion, self.allocator))
