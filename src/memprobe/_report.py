"""The live report behind `python -m memprobe`: gathered here as a typed
Report (its text is drawn by _render, its JSON by _serialize)."""
from __future__ import annotations

import os
import sys
from typing import TextIO, Tuple

from ._gc import census, gc_state
from ._interpreter import interpreter
from ._memprobe import refcount
from ._mimalloc import mimalloc
from ._pymalloc import fragmentation, pymalloc
from ._rss import rss
from ._snapshot import attempt
from ._types import Report


def use_colour(stream: TextIO) -> bool:
    """The conventions of no-color.org and force-color.org: NO_COLOR set
    and non-empty disables colour, FORCE_COLOR set and non-empty enables
    it; otherwise colour only on a terminal that is not TERM=dumb."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def report() -> Report:
    """The live report, as ``python -m memprobe`` shows it: the interpreter,
    each allocator (or why not), the collector and its most common types,
    fragmentation, resident memory.  ``str()`` is the text; ``to_json()``
    what ``--json`` prints."""
    collector, why = attempt(lambda: (gc_state(), census(top=3)))
    state, top = collector if collector is not None else (None, None)
    pymalloc_snapshot, pymalloc_why = attempt(pymalloc)
    mimalloc_snapshot, mimalloc_why = attempt(mimalloc)
    fragmented, _ = attempt(fragmentation)
    demo = object()
    counts: Tuple[int, int] = (refcount(demo), sys.getrefcount(demo))
    return Report(interpreter=interpreter(), pymalloc=pymalloc_snapshot, pymalloc_unavailable=pymalloc_why,
                  mimalloc=mimalloc_snapshot, mimalloc_unavailable=mimalloc_why, gc=state, gc_unavailable=why,
                  top_types=top, fragmentation=fragmented, resident=rss(), fresh_object_refcounts=counts)

