"""rss(): the process's resident memory split by who holds it: pymalloc's
arenas (resident pages counted with mincore), mimalloc, glibc's malloc
(mallinfo2, found at run time) and the rest.  No hooks, no tracing: the
state as it is."""
from __future__ import annotations

import os
import sys
from typing import Dict, List, Optional, Tuple

from . import _memprobe
from ._memprobe import MemprobeError, PymallocUnavailable
from ._mimalloc import mimalloc
from ._pymalloc import arenas, fragmentation_of
from ._render import mib
from ._types import Fragmentation, ResidentMemory, Rows

__all__ = ["rss"]


# Where Linux says how much of the process is resident.
STATM = "/proc/self/statm"


def _resident_set() -> Tuple[Optional[int], Optional[str]]:
    """Resident bytes from /proc/self/statm (Linux), or (None, why)."""
    try:
        with open(STATM, "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None, f"the resident set size: no /proc/self/statm on {sys.platform}"
    return pages * os.sysconf("SC_PAGE_SIZE"), None


def rss() -> ResidentMemory:
    """Where the process's resident memory is, and what that means."""
    unknown: List[str] = []
    total, why = _resident_set()
    if why:
        unknown.append(why)
    arena_bytes = resident = live = None
    pymalloc_part: Optional[int] = 0     # what pymalloc's arenas hold resident; None: not known
    fragmented: Optional[Fragmentation] = None
    try:
        arena_map = arenas()
    except PymallocUnavailable:
        pass    # pymalloc serves nothing here: it holds nothing
    except MemprobeError as exc:
        unknown.append(f"pymalloc's arenas: {exc}")
        pymalloc_part = None
    else:
        fragmented = fragmentation_of(arena_map, 1)
        arena_bytes, live = fragmented.arena_bytes, fragmented.live_bytes
        if all(a.resident_bytes is not None for a in arena_map):
            resident = pymalloc_part = sum(a.resident_bytes or 0 for a in arena_map)
        else:
            unknown.append("which of pymalloc's arena pages are resident: mincore() gave no answer")
            pymalloc_part = None
    committed = None
    try:
        committed = mimalloc().bytes_committed
    except MemprobeError:
        pass    # mimalloc does not serve this interpreter: nothing of it to count
    else:
        unknown.append("the rest: mimalloc keeps freed segments resident that it does not count as "
                       "committed, so what is left cannot be told from them")
    heap = in_use = free = mapped = releasable = None
    info = _memprobe._mallinfo()
    if info is None:
        unknown.append("the C allocator's own figures: malloc is not glibc's (musl, a preloaded jemalloc or "
                       "tcmalloc, a sanitizer, or another system), so there is no mallinfo2() to ask")
    else:
        heap, in_use, free, mapped, releasable = info
        in_use += mapped
    known = [pymalloc_part, committed or 0, None if heap is None else heap + (mapped or 0)]
    other = None
    if total is not None and None not in known and committed is None:
        rest = total - sum(k or 0 for k in known)
        other = rest if rest >= 0 else None
        if other is None:
            unknown.append("the rest: malloc's heaps are not all resident, so they do not subtract")
    parts = dict(total=total, pymalloc_arenas=arena_bytes, pymalloc_resident=resident, pymalloc_live=live,
                 mimalloc_committed=committed, malloc_heap=heap, malloc_in_use=in_use, malloc_free=free,
                 malloc_mmapped=mapped, malloc_releasable=releasable, other=other)
    return ResidentMemory(unknown=Rows(unknown), verdict=_verdict(parts, fragmented), **parts)


def _verdict(p: Dict[str, Optional[int]], fragmented: Optional[Fragmentation]) -> str:
    """Which part dominates, in words."""
    candidates = {
        "pymalloc": p["pymalloc_resident"] if p["pymalloc_resident"] is not None else p["pymalloc_arenas"],
        "mimalloc": p["mimalloc_committed"],
        "malloc free": p["malloc_free"],
        "malloc in use": p["malloc_in_use"],
        "other": p["other"],
    }
    sized = {k: v for k, v in candidates.items() if v is not None}
    if not sized:
        return "Nothing could be measured here."
    top = max(sized, key=lambda k: sized[k] or 0)
    amount = mib(sized[top])
    if top == "pymalloc":
        if fragmented is not None and fragmented.live_fraction is not None and fragmented.live_fraction < 0.5:
            return (f"pymalloc fragmentation: its arenas hold {amount} but only {mib(p['pymalloc_live'])} of it "
                    f"is live blocks; long-lived objects scattered across arenas keep the rest "
                    f"(see memprobe.fragmentation()).")
        return (f"Live Python objects: pymalloc's arenas hold {amount}, {mib(p['pymalloc_live'])} of it in "
                f"live blocks; census() and snapshot diffs say of which types.")
    if top == "mimalloc":
        return f"mimalloc holds {amount} committed: live objects and the pages they keep (see memprobe.mimalloc())."
    if top == "malloc free":
        return (f"C-allocator retention: glibc's malloc holds {amount} freed but not returned to the system; "
                f"malloc_trim(0) would give back what it can.")
    if top == "malloc in use":
        return (f"Raw and native allocations: {amount} in use through malloc (objects over 512 bytes, list "
                f"and dict storage, C extensions; every object under PYTHONMALLOC=malloc); tracemalloc can "
                f"tell which Python lines made them.")
    return (f"Memory memprobe cannot see: {amount} of code, stacks and other mappings (or native memory "
            f"not from malloc).")
