"""The generation timeline: every collection that runs while a block of
code runs (from any thread), recorded from gc.callbacks, and drawn as SVG.

Each collection is timed between the collector's "start" and "stop"
callbacks.  Every recording open shares one pair of callbacks: the start
callback, last in gc.callbacks when the first recording began, reads what
each recording wants and takes the timestamp last; the stop callback,
first in gc.callbacks, takes it first.  So the recordings' own work (and
that of callbacks registered before them) is outside the duration; a
callback registered after them runs inside it.  With ``lengths=True`` the
lists' lengths are read too (gc_state(): a walk of every list, twice per
collection: for small heaps and teaching, not for services).  Numbers go
into arrays while recording (untracked), so the recording adds nothing to
the lists it watches; the Timeline is built at the end.  CPython discards
what a gc callback raises: a Ctrl-C that arrives during one is raised
again once the callbacks are done (see _on_sigint).  Works wherever gc.callbacks does: 3.9-3.15, free-threaded
builds included (one "generation" there).
"""
from __future__ import annotations

import _thread
import gc
import html
import signal
import threading
import time
from array import array
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

from ._gc import gc_state
from ._interpreter import describe, interpreter
from ._memprobe import MemprobeError
from ._types import Collection, Rows, Timeline

# Numbers recorded per collection, in this order, as int64: generation,
# start and stop (perf_counter_ns), collected, uncollectable, three counts
# before, three after, four lengths before and four after (-1: not read).
_FIELDS = 19
_NOT_READ = -1
_UNREAD = (_NOT_READ,) * 4


def _lengths() -> Tuple[int, ...]:
    """The lengths of generations 0-2 and of the permanent list (-1 where
    not known)."""
    try:
        state = gc_state(frozen=True)
    except MemprobeError:
        return _UNREAD
    lengths = [g.length if g.length is not None else _NOT_READ for g in state.generations[:3]]
    lengths += [_NOT_READ] * (3 - len(lengths))
    permanent = state.permanent_length if state.permanent_length is not None else _NOT_READ
    return lengths[0], lengths[1], lengths[2], permanent


# The recordings open now, oldest first; the shared callbacks are in
# gc.callbacks while there is one.
_OPEN: List["timeline"] = []

# CPython discards what a gc callback raises, so a Ctrl-C must not be
# raised inside one: while recordings are open (begun in the main thread)
# SIGINT goes through _on_sigint, which, from the start callback to the end
# of the stop callback and while the collector says it is collecting (other
# callbacks run then too), raises it again from another thread a moment later.
_in_callback = False
_deferred = False
_timer: Optional[threading.Timer] = None
_saved_sigint: Any = None


def _raise_deferred() -> None:
    """A Ctrl-C deferred by the block's last collection is raised as the
    block ends, not a moment later in whatever comes next."""
    global _deferred
    if _timer is not None:
        _timer.cancel()
    _deferred = False
    raise KeyboardInterrupt


def _signal_main_thread() -> None:
    """SIGINT to the main thread: a real signal where there is one, which
    also ends a sleep or a wait there."""
    global _deferred
    _deferred = False
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
    else:
        _thread.interrupt_main()


def _collecting() -> bool:
    """Whether a collection runs now, its callbacks included (those after
    ours in gc.callbacks too: a KeyboardInterrupt raised in one is lost)."""
    try:
        return gc_state(lengths=False).collecting
    except MemprobeError:
        return False


def _on_sigint(signum: int, frame: Any) -> None:
    global _deferred, _timer
    if _in_callback or _collecting():
        if not _deferred:       # Ctrl-C pressed twice in one collection is one interrupt
            _deferred = True
            _timer = threading.Timer(0.001, _signal_main_thread)
            _timer.start()
        return
    handler = _saved_sigint
    if callable(handler):
        handler(signum, frame)
    elif handler != signal.SIG_IGN:
        raise KeyboardInterrupt


def _on_start(phase: str, info: Dict[str, Any]) -> None:
    global _in_callback
    if phase != "start" or not _OPEN:
        return
    _in_callback = True
    try:
        # The pending records first (nothing lost if interrupted), the timestamp last.
        head = array("q", (int(info.get("generation", 0)), 0, *gc.get_count(), *_UNREAD))
        for recording in _OPEN:
            recording._pending = array("q", head)
        if any(r.lengths for r in _OPEN):
            lengths = array("q", _lengths())
            for recording in _OPEN:
                if recording.lengths:
                    recording._pending[5:9] = lengths
    finally:
        now = time.perf_counter_ns()
        for recording in _OPEN:
            if len(recording._pending) == 9:
                recording._pending[1] = now
        # _in_callback stays set through the collection (finalizers run in
        # it) until the stop callback is done.


def _on_stop(phase: str, info: Dict[str, Any]) -> None:
    global _in_callback
    if phase != "stop":
        return
    now = time.perf_counter_ns()    # first: the collection just ended
    if not _OPEN:                   # the last recording ended during the collection
        _in_callback = False
        return
    _in_callback = True             # (set since the start callback, unless it began first)
    try:
        tail = array("q", (now, int(info.get("collected", 0)), int(info.get("uncollectable", 0))))
        counts = array("q", gc.get_count())
        lengths = array("q", _lengths() if any(r.lengths for r in _OPEN) else _UNREAD)
        for recording in _OPEN:
            recording._record(tail, counts, lengths)
    finally:
        _in_callback = False


def _catch_sigint(catch: bool) -> None:
    """Route SIGINT through _on_sigint, or give it back (in the main thread
    of the main interpreter only: elsewhere signal handlers cannot be set,
    and none is)."""
    global _saved_sigint
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if catch:
            # Already ours when a recording in another thread outlived the
            # main thread's and could not give it back: never save it as
            # the handler to call (each Ctrl-C would call itself).
            if signal.getsignal(signal.SIGINT) is not _on_sigint:
                _saved_sigint = signal.signal(signal.SIGINT, _on_sigint)
        elif signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.signal(signal.SIGINT, _saved_sigint if _saved_sigint is not None else signal.default_int_handler)
            _saved_sigint = None
    except ValueError:
        pass    # a subinterpreter: only the main interpreter handles signals


class timeline:
    """Records every collection that runs while ``with memprobe.timeline()
    as t:`` runs; ``t.result`` is the Timeline once the block ends.  One
    recording at a time per object (a new ``with`` starts afresh); several
    objects may record at once, nested or not."""

    def __init__(self, *, lengths: bool = False) -> None:
        if not isinstance(lengths, bool):
            raise TypeError(f"lengths must be a bool, not {type(lengths).__name__}")
        self.lengths = lengths
        self.result: Optional[Timeline] = None
        self._numbers = array("q")
        self._pending = array("q")
        self._began = 0
        self._elapsed = 0

    def _record(self, tail: "array[int]", counts: "array[int]", lengths: "array[int]") -> None:
        p = self._pending
        if len(p) != 9 or p[1] < self._began:
            return      # the collection began before this recording did
        self._numbers.extend((p[0], p[1], tail[0], tail[1], tail[2], p[2], p[3], p[4], *counts,
                              p[5], p[6], p[7], p[8], *(lengths if self.lengths else _UNREAD)))
        self._pending = array("q")

    def __enter__(self) -> "timeline":
        if self in _OPEN:
            raise RuntimeError("this timeline is recording already; use another timeline() to nest")
        self._numbers = array("q")
        self._pending = array("q")
        self.result = None
        if not _OPEN:
            gc.callbacks.append(_on_start)
            gc.callbacks.insert(0, _on_stop)
        _catch_sigint(True)     # the main thread's recording catches it, opened first or not
        self._began = time.perf_counter_ns()
        _OPEN.append(self)
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        global _in_callback
        self._elapsed = time.perf_counter_ns() - self._began
        if self in _OPEN:
            _OPEN.remove(self)
        if not _OPEN:
            # The block may have taken them out itself (gc.callbacks.clear()),
            # and with them the stop callback that clears _in_callback.
            for hook in (_on_start, _on_stop):
                while hook in gc.callbacks:
                    gc.callbacks.remove(hook)
            _in_callback = False
            _catch_sigint(False)
        self.result = self._build()
        if not _OPEN and _deferred and threading.current_thread() is threading.main_thread():
            _raise_deferred()

    def _build(self) -> Timeline:
        n = self._numbers
        rows: List[Collection] = []
        for i in range(0, len(n), _FIELDS):
            row = n[i:i + _FIELDS]
            before, after = tuple(row[11:15]), tuple(row[15:19])
            rows.append(Collection(
                generation=row[0], start=(row[1] - self._began) / 1e9, duration=(row[2] - row[1]) / 1e9,
                collected=row[3], uncollectable=row[4], counts_before=(row[5], row[6], row[7]),
                counts_after=(row[8], row[9], row[10]),
                lengths_before=None if _NOT_READ in before else before,
                lengths_after=None if _NOT_READ in after else after))
        info = interpreter()
        return Timeline(interpreter=describe(), gc_regime=info.gc_regime, elapsed=self._elapsed / 1e9,
                        collections=Rows(rows))


# ---- The picture ----------------------------------------------------------------------------

GENERATION_COLOURS = ("#4e79a7", "#f28e2b", "#e15759")
WIDTH, HEIGHT, LEFT, TOP = 760, 220, 60, 40


def timeline_svg(t: Timeline, title: Optional[str] = None) -> str:
    """Collections as events on a time axis, one lane per generation: each
    a bar as long as it took (at least a hairline) and as tall as what it
    collected; with lengths, the objects each list held after it, as
    steps (objects flowing 0 -> 1 -> 2 -> permanent)."""
    span = max(t.elapsed, max((c.start + c.duration for c in t.collections), default=0.0), 1e-9)
    lane = HEIGHT // 3
    most = max((c.collected for c in t.collections), default=0) or 1

    def x(seconds: float) -> float:
        return LEFT + WIDTH * seconds / span

    title = title or f"memprobe: collections on {t.interpreter} ({t.gc_regime})"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + 40}" height="{TOP + HEIGHT + 70}" '
             f'font-family="sans-serif" font-size="11">',
             f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>']
    for g in range(3):
        y = TOP + g * lane
        parts.append(f'<rect x="{LEFT}" y="{y}" width="{WIDTH}" height="{lane - 4}" fill="#f3f4f6"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + lane // 2}" text-anchor="end">gen {g}</text>')
    for c in t.collections:
        g = min(max(c.generation, 0), 2)
        y_bottom = TOP + g * lane + lane - 6
        height = max(2.0, (lane - 10) * c.collected / most)
        width = max(1.0, x(c.start + c.duration) - x(c.start))
        tip = (f"generation {c.generation} at {c.start * 1e3:.3f} ms, {c.duration * 1e6:.0f} us: "
               f"{c.collected:,} collected, {c.uncollectable:,} uncollectable")
        if c.lengths_after is not None:
            tip += "; after: " + ", ".join(f"{name} {n:,}" for name, n in
                                           zip(("gen 0", "gen 1", "gen 2", "permanent"), c.lengths_after))
        parts.append(f'<rect class="collection" x="{x(c.start):.1f}" y="{y_bottom - height:.1f}" '
                     f'width="{width:.1f}" height="{height:.1f}" fill="{GENERATION_COLOURS[g]}">'
                     f'<title>{html.escape(tip)}</title></rect>')
    axis = TOP + HEIGHT + 4
    with_lengths = [c for c in t.collections if c.lengths_after is not None]
    panel = PANEL if with_lengths else 0
    if with_lengths:
        parts.append(_lengths_panel(with_lengths, x, axis + 66))
    parts.append(f'<line x1="{LEFT}" y1="{axis}" x2="{LEFT + WIDTH}" y2="{axis}" stroke="#6b7280"/>')
    for k in range(5):
        seconds = span * k / 4
        parts.append(f'<text x="{x(seconds):.1f}" y="{axis + 14}" text-anchor="middle">{seconds * 1e3:,.1f} ms</text>')
    by_generation = t.collections_by_generation()
    legend = ", ".join(f"gen {g}: {n:,} collections" for g, n in sorted(by_generation.items()))
    parts.append(f'<text x="{LEFT}" y="{axis + 34}">{html.escape(legend or "no collection ran")}; bar height: '
                 f'objects collected (most {most:,}); bar width: duration</text>')
    parts.append("</svg>")
    parts[0] = parts[0].replace(f'height="{TOP + HEIGHT + 70}"', f'height="{TOP + HEIGHT + 70 + panel}"')
    return "\n".join(parts)


PANEL = 190
LIST_COLOURS = (("gen 0", "#4e79a7"), ("gen 1", "#f28e2b"), ("gen 2", "#e15759"), ("permanent", "#59a14f"))


def _lengths_panel(collections: Sequence[Collection], x: Callable[[float], float], top: int) -> str:
    """Objects in each list after each collection, as steps: objects
    flowing 0 -> 1 -> 2 -> permanent."""
    height = PANEL - 40
    most = max(max(c.lengths_after or (0,)) for c in collections) or 1
    parts = [f'<text x="{LEFT}" y="{top - 6}">objects in each list after each collection (most {most:,})</text>',
             f'<rect x="{LEFT}" y="{top}" width="{WIDTH}" height="{height}" fill="#f9fafb"/>']
    for k, (name, colour) in enumerate(LIST_COLOURS):
        points = []
        for c in collections:
            assert c.lengths_after is not None
            y = top + height - height * c.lengths_after[k] / most
            points.append(f"{x(c.start + c.duration):.1f},{y:.1f}")
        parts.append(f'<polyline class="list" fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{" ".join(points)}"><title>{name}</title></polyline>')
        parts.append(f'<rect x="{LEFT + k * 110}" y="{top + height + 10}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{LEFT + k * 110 + 14}" y="{top + height + 19}">{name}</text>')
    return "\n".join(parts)


def timeline_html(t: Timeline) -> str:
    """A self-contained page: the picture and the table."""
    from ._render import html_of

    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>memprobe timeline</title></head><body>"
            f"{html_of(t)}</body></html>")
