"""Every table memprobe draws from typed results: snapshots, diffs, the
live report and the lessons as text (fitted to the terminal: COLUMNS, else
its width, else 80 columns; colour only when asked for), each result's
one-line summary for its repr, and its notebook view as HTML tables."""
from __future__ import annotations

import dataclasses
import html
import re
import shutil
import sys
import textwrap
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ._serialize import generation_key, type_name
from ._types import (ArenaInfo, BlockCensus, Census, Explanation, Fragmentation, GCState, Generation, InjectedReport,
                     Interpreter, LessonResult, MimallocSizeClass, MimallocSnapshot, PymallocSnapshot, Report,
                     ResidentMemory, RemoteSnapshot, SizeClass, Snapshot, SnapshotDiff, Timeline, TypeCounts)

BAR = 20
WIDTH = 80


class Style:
    """ANSI styling, or none."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text


def short_type(tp: type) -> str:
    name = type_name(tp)
    return name[len("builtins."):] if name.startswith("builtins.") else name


# How full a pool or page is carries meaning: full ones waste nothing
# (green); a quarter to three quarters full hold memory no other size can
# use (yellow); nearly empty ones are fragmentation (red).  (ANSI code,
# CSS colour) by the lowest fill of each band.
FILL_COLOURS = ((0.75, "32", "#2e7d32"), (0.25, "33", "#f9a825"), (0.0, "31", "#c62828"))


def fill_colour(used: int, free: int) -> Tuple[str, str]:
    """The (ANSI code, CSS colour) of a fill bar."""
    fraction = used / (used + free) if used + free else 0.0
    return next((ansi, css) for low, ansi, css in FILL_COLOURS if fraction >= low)


def _bar(used: int, free: int, style: Style) -> str:
    total = used + free
    filled = round(BAR * used / total) if total else 0
    return style("#" * filled, fill_colour(used, free)[0]) + "." * (BAR - filled)


def _pymalloc_rows(classes: Iterable[SizeClass], style: Style) -> List[str]:
    rows = ["  class  size  pools     in use      free  fill"]
    rows += [f"  {c.class_index:>5} {c.block_size:>5} {c.pools:>6,} {c.blocks_in_use:>10,} {c.blocks_free:>9,}  "
             f"{_bar(c.blocks_in_use, c.blocks_free, style)}" for c in classes]
    return rows


def _mimalloc_rows(classes: Sequence[MimallocSizeClass], style: Style, most: int = 12) -> List[str]:
    busiest = sorted(classes, key=lambda c: -c.blocks_in_use)[:most]
    rows = ["  heap     size  pages     in use      free  fill"]
    rows += [f"  {c.heap:<7}{c.block_size:>6} {c.pages:>6,} {c.blocks_in_use:>10,} {c.blocks_free:>9,}  "
             f"{_bar(c.blocks_in_use, c.blocks_free, style)}" for c in busiest]
    if len(classes) > len(busiest):
        rows.append(f"  ({len(classes) - len(busiest)} quieter classes: memprobe.mimalloc())")
    return rows


def _generation_totals(counts: Optional[Mapping[str, int]], sign: str = "") -> str:
    if counts is None:
        return "  tracked objects by generation: not counted (census=False)"
    return "  tracked objects by generation: " + ", ".join(f"{k}={v:{sign},}" for k, v in counts.items())


# ---- Snapshots and diffs --------------------------------------------------------------

def _percent(fraction: Optional[float]) -> str:
    return "no arenas" if fraction is None else f"{fraction:.0%}"


def _count(value: Optional[int], spec: str = ",") -> str:
    """A count, or what stands for one that is not known."""
    return "not counted" if value is None else format(value, spec)


def snapshot_text(snap: Snapshot) -> str:
    style = Style(False)
    lines = [f"memprobe snapshot of {snap.interpreter}",
             f"  sys.getallocatedblocks()   {_count(snap.allocated_blocks):>12}"]
    if snap.mimalloc is not None:
        m = snap.mimalloc
        lines += [f"  mimalloc ({m.scope}, {m.threads} thread(s))",
                  f"  pages / blocks in use      {m.pages:>12,} / {m.blocks_in_use:,}",
                  f"  bytes committed/reserved   {m.bytes_committed:>12,} / {m.bytes_reserved:,}"]
        lines += _mimalloc_rows(m.size_classes, style)
    if snap.pymalloc is None:
        lines.append(f"  pymalloc                   unavailable: {snap.pymalloc_unavailable}")
    else:
        p = snap.pymalloc
        lines += [f"  arenas current/highwater   {p.arenas_current:>12,} / {p.arenas_highwater:,}",
                  f"  blocks in use              {p.blocks_in_use:>12,}",
                  f"  raw (over {p.small_request_threshold}-byte) blocks  {p.raw_allocated_blocks:>12,}",
                  f"  fragmentation              {binary_bytes(p.bytes_in_allocated_blocks)} live in "
                  f"{binary_bytes(p.arena_bytes)} of arenas ({_percent(p.live_fraction)}); "
                  f"{binary_bytes(p.bytes_in_available_blocks)} free in pools in use, "
                  f"{binary_bytes(p.bytes_in_unused_pools)} in empty pools"]
        lines += _pymalloc_rows(p.size_classes, style)
    lines.append(_generation_totals(snap.objects_by_generation))
    top = sorted((snap.objects_by_type or {}).items(), key=lambda kv: -kv[1])[:10]
    lines += [f"  {count:>10,}  {name}" for name, count in top]
    if snap.blocks_unavailable is not None:
        lines.append(f"  objects in the allocator's blocks: not counted: {snap.blocks_unavailable}")
    elif snap.blocks_by_type is not None and snap.block_bytes_by_type is not None:
        lines.append("  objects in the allocator's blocks (tracked or not), most bytes first:")
        nbytes = snap.block_bytes_by_type
        lines += [f"  {snap.blocks_by_type.get(name, 0):>10,}  {binary_bytes(n):>12}  {name}"
                  for name, n in sorted(nbytes.items(), key=lambda kv: -kv[1])[:10]]
    return _joined(lines)


def diff_text(diff: SnapshotDiff) -> str:
    lines = [f"memprobe diff on {diff.interpreter}",
             f"  allocated blocks (sys.getallocatedblocks)  {_count(diff.allocated_blocks, '+,')}"]
    if diff.mimalloc_available:
        lines.append(f"  mimalloc pages / blocks in use             {diff.mimalloc_pages:+,} / "
                     f"{diff.mimalloc_blocks_in_use:+,} ({signed_bytes(diff.mimalloc_bytes_in_use or 0)})")
        if diff.mimalloc_classes:
            lines.append("  heap     size     pages   blocks in use        bytes")
            lines += [f"  {d.heap:<7}{d.block_size:>6} {d.pages:>+9,} {d.blocks_in_use:>+15,} "
                      f"{signed_bytes(d.bytes_in_use):>12}" for d in diff.mimalloc_classes[:12]]
    if diff.pymalloc_available:
        lines += [f"  pymalloc blocks in use                     {diff.blocks_in_use:+,} "
                  f"({signed_bytes(diff.bytes_in_use or 0)})",
                  f"  raw blocks (over the threshold)            {diff.raw_allocated_blocks:+,}",
                  f"  arenas allocated / freed / highwater       +{diff.arenas_allocated:,} / "
                  f"-{diff.arenas_freed:,} / {diff.arenas_highwater:+,}",
                  f"  arena bytes / free in pools / empty pools  {signed_bytes(diff.arena_bytes or 0)} / "
                  f"{signed_bytes(diff.free_block_bytes or 0)} / {signed_bytes(diff.empty_pool_bytes or 0)}"]
        if diff.size_classes:
            lines.append("  class  size     pools   blocks in use        bytes")
            lines += [f"  {d.class_index:>5} {d.block_size:>5} {d.pools:>+9,} {d.blocks_in_use:>+15,} "
                      f"{signed_bytes(d.bytes_in_use):>12}" for d in diff.size_classes[:12]]
    else:
        lines.append("  pymalloc                                   unavailable")
    lines.append(_generation_totals(diff.objects_by_generation, "+"))
    lines += [f"  {count:>+10,}  {name}" for name, count in list((diff.objects_by_type or {}).items())[:10]]
    if diff.blocks_by_type is not None and diff.block_bytes_by_type is not None:
        lines.append("  objects in the allocator's blocks (tracked or not), by type:")
        lines += [f"  {count:>+10,}  {signed_bytes(diff.block_bytes_by_type.get(name, 0)):>12}  {name}"
                  for name, count in list(diff.blocks_by_type.items())[:10]]
        if not diff.blocks_by_type:
            lines.append("        none")
    return _joined(lines)


# ---- Fragmentation --------------------------------------------------------------------------

def mib(n: Optional[int]) -> str:
    """Bytes in MiB, one decimal: the unit of memory verdicts ("?" when
    not known)."""
    return "?" if n is None else f"{n / 2**20:,.1f} MiB"


def binary_bytes(n: int) -> str:
    """1,536 -> '1.5 KiB': bytes with a binary unit."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} B"


def signed_bytes(n: int) -> str:
    return ("+" if n >= 0 else "-") + binary_bytes(abs(n))


# ---- one line for a result's repr ---------------------------------------------------------


def _most(counts: TypeCounts) -> str:
    for kind, n in counts.items():
        return f", most {type_name(kind)} {n:,}"
    return ""


def _bytes_or_unknown(n: Optional[int]) -> str:
    return "unknown" if n is None else binary_bytes(n)


def _summary_of_gc_state(g: GCState) -> str:
    counts = ", ".join(f"{s.count}/{s.threshold}" for s in g.generations)
    return f"{g.regime}, {'enabled' if g.enabled else 'disabled'}, counts/thresholds {counts}"


def _summary_of_remote(r: RemoteSnapshot) -> str:
    return f"process {r.pid}, CPython {r.version}: {_summary_of_gc_state(r.gc)}"


def _summary_of_injected(r: InjectedReport) -> str:
    return f"process {r.pid}, CPython {r.version}: memprobe's report and where, taken inside it"


def _summary_of_census(c: Census) -> str:
    return f"{c.total:,} tracked objects of {len(c.by_type):,} types{_most(c.by_type)}"


def _summary_of_pymalloc(p: PymallocSnapshot) -> str:
    in_use = "" if p.bytes_in_allocated_blocks is None else f" ({binary_bytes(p.bytes_in_allocated_blocks)})"
    return (f"{p.allocator}: {p.arenas_current:,} arenas, {p.blocks_in_use:,} blocks in use{in_use} "
            f"in {len(p.size_classes)} size classes")


def _summary_of_mimalloc(m: MimallocSnapshot) -> str:
    threads = f"{m.threads} thread" + ("s" if m.threads != 1 else "")
    return (f"{m.allocator}: {threads}, {m.pages:,} pages, {binary_bytes(m.bytes_in_use)} in use "
            f"of {binary_bytes(m.bytes_committed)} committed")


def _summary_of_fragmentation(f: Fragmentation) -> str:
    live = "" if f.live_fraction is None else f", {f.live_fraction:.1%} of it in live blocks"
    return f"{f.arenas:,} arenas hold {mib(f.arena_bytes)}{live}"


def _summary_of_block_census(c: BlockCensus) -> str:
    most = next(iter(c.bytes.items()), None)
    first = "" if most is None else f", most bytes {type_name(most[0])} {binary_bytes(most[1])}"
    return (f"{c.allocator}: {sum(c.blocks.values()):,} blocks hold objects of {len(c.blocks):,} types"
            f"{first}; {c.other_blocks:,} other blocks")


def _summary_of_resident(r: ResidentMemory) -> str:
    return f"total {_bytes_or_unknown(r.total)}, pymalloc arenas {_bytes_or_unknown(r.pymalloc_arenas)}"


def _summary_of_snapshot(s: Snapshot) -> str:
    objects = sum(s.objects_by_generation.values()) if s.objects_by_generation is not None else None
    return f"of {s.interpreter}: tracked objects {_count(objects)}, allocated blocks {_count(s.allocated_blocks)}"


def _summary_of_diff(d: SnapshotDiff) -> str:
    objects = sum(d.objects_by_generation.values()) if d.objects_by_generation is not None else None
    return (f"on {d.interpreter}: tracked objects {_count(objects, '+,')}, "
            f"allocated blocks {_count(d.allocated_blocks, '+,')}")


def _cpython(i: Interpreter) -> str:
    """'CPython 3.13.0 (release, GIL build)'."""
    build = f"{'debug' if i.debug_build else 'release'}, {'free-threaded' if i.free_threaded else 'GIL'} build"
    return f"CPython {'.'.join(map(str, i.version))} ({build})"


def _summary_of_report(r: Report) -> str:
    return f"of {_cpython(r.interpreter)}"


def _summary_of_timeline(t: Timeline) -> str:
    by_generation = ", ".join(f"gen {g} {n:,}" for g, n in sorted(t.collections_by_generation().items()))
    return (f"{len(t.collections):,} collections in {t.elapsed * 1e3:,.1f} ms"
            + (f" ({by_generation})" if by_generation else ""))


def _summary_of_arena(a: ArenaInfo) -> str:
    return f"{a.address:#x}: {a.used_pools} of {a.total_pools} pools in use, {a.blocks_in_use:,} blocks"


def _summary_of_interpreter(i: Interpreter) -> str:
    return f"{_cpython(i)}, allocator {i.allocator}, GC {i.gc_regime}"


def _summary_of_lesson(lesson: LessonResult) -> str:
    return f"{lesson.name}: {'holds' if lesson.holds else 'DOES NOT HOLD'} here"


_SUMMARIES: Dict[type, Callable[[Any], str]] = {
    ArenaInfo: _summary_of_arena, Interpreter: _summary_of_interpreter, LessonResult: _summary_of_lesson,
    Timeline: _summary_of_timeline,
    GCState: _summary_of_gc_state, RemoteSnapshot: _summary_of_remote, InjectedReport: _summary_of_injected, Census: _summary_of_census, PymallocSnapshot: _summary_of_pymalloc,
    MimallocSnapshot: _summary_of_mimalloc, Fragmentation: _summary_of_fragmentation,
    BlockCensus: _summary_of_block_census, ResidentMemory: _summary_of_resident,
    Snapshot: _summary_of_snapshot, SnapshotDiff: _summary_of_diff, Report: _summary_of_report}


def fields_text(result: Any) -> str:
    """A result without a table of its own, printed: a field a line (long
    values cut at the line's end)."""
    lines = [f"memprobe: {type(result).__name__}"]
    for field in dataclasses.fields(result):
        value = repr(getattr(result, field.name))
        lines.append(f"  {field.name:<22} {value if len(value) <= 50 else value[:47] + '...'}")
    return _joined(lines)


def summary(result: object) -> str:
    """One line that names what a result holds, for its repr (print()
    shows the whole)."""
    return _SUMMARIES[type(result)](result)


def fragmentation_text(f: Fragmentation) -> str:
    lines = ["memprobe: where pymalloc's arenas go",
             f"  {f.arenas:,} arenas hold {mib(f.arena_bytes)}: live blocks {mib(f.live_bytes)}, free blocks in "
             f"used pools {mib(f.free_block_bytes)}, empty pools {mib(f.empty_pool_bytes)}, overhead "
             f"{mib(f.overhead_bytes)}",
             "  arenas by live fraction:"]
    lines += [f"    {b.low:>4.0%}-{b.high:<4.0%} {b.arenas:>7,} arenas {mib(b.arena_bytes):>12}  "
              f"live {mib(b.live_bytes)}" for b in f.occupancy if b.arenas]
    if f.sparsest:
        lines.append("  sparsest arenas (address: live blocks, bytes, pools in use):")
        lines += [f"    0x{a.address:x}: {a.live_blocks:,} blocks, {a.live_bytes:,} B, {a.used_pools} pools"
                  for a in f.sparsest]
    lines.append("  " + f.verdict)
    return _joined(lines)


def block_census_text(c: BlockCensus, top: int = 12) -> str:
    from ._serialize import generation_key, type_name

    arena = "segment" if c.allocator == "mimalloc" else "arena"
    lines = [f"memprobe: {c.allocator}'s blocks by the object they hold",
             f"     blocks        bytes {arena + 's':>8}  type"]
    arenas = c.arenas_touched
    lines += [f"  {c.blocks[t]:>9,} {binary_bytes(n):>12} {arenas[t]:>8,}  {type_name(t)}"
              for t, n in list(c.bytes.items())[:top]]
    lines.append(f"  {c.other_blocks:>9,} {binary_bytes(c.other_bytes):>12}           (blocks that hold no "
                 "object of a known type: dict keys, list items, internals)")
    sparse = sorted(c.arenas, key=lambda a: a.object_blocks)[:3]
    if sparse:
        lines.append(f"  {arena}s held by the fewest objects:")
        lines += [f"    0x{a.address:x}: " + ", ".join(f"{n:,} {type_name(t)}" for t, n in list(a.holders.items())[:4])
                  for a in sparse]
    return _joined(lines)


def resident_text(r: ResidentMemory) -> str:
    def size(n: Optional[int]) -> str:
        return "unknown" if n is None else binary_bytes(n)

    lines = [f"memprobe: resident memory {size(r.total)}",
             f"  pymalloc arenas   {size(r.pymalloc_resident)} resident of {size(r.pymalloc_arenas)}, "
             f"{size(r.pymalloc_live)} in live blocks",
             "  mimalloc          " + ("not in use" if r.mimalloc_committed is None
                                       else f"{binary_bytes(r.mimalloc_committed)} committed"),
             f"  malloc (glibc)    {size(r.malloc_in_use)} in use, {size(r.malloc_free)} free "
             f"({size(r.malloc_releasable)} releasable at the top), {size(r.malloc_mmapped)} mmapped",
             f"  the rest          {size(r.other)} (code, stacks, other mappings)"]
    lines += [f"  unknown: {why}" for why in r.unknown]
    lines.append("  " + r.verdict)
    return _joined(lines)


def resident_change_text(before: ResidentMemory, after: ResidentMemory) -> str:
    """rss() before and after a run, part by part, and the verdict after."""
    def size(n: Optional[int]) -> str:
        return "unknown" if n is None else binary_bytes(n)

    def change(a: Optional[int], b: Optional[int]) -> str:
        return "" if a is None or b is None else signed_bytes(b - a)

    rows = [("total resident", "total"), ("pymalloc arenas resident", "pymalloc_resident"),
            ("  in live blocks", "pymalloc_live"), ("mimalloc committed", "mimalloc_committed"),
            ("malloc in use", "malloc_in_use"), ("malloc free", "malloc_free"), ("the rest", "other")]
    lines = ["memprobe: resident memory before and after the run",
             f"  {'':<26}{'before':>12}{'after':>12}{'change':>12}"]
    for label, field in rows:
        a, b = getattr(before, field), getattr(after, field)
        if a is None and b is None and field == "mimalloc_committed":
            continue
        lines.append(f"  {label:<26}{size(a):>12}{size(b):>12}{change(a, b):>12}")
    lines.append("  after: " + after.verdict)
    return _joined(lines)


# ---- Lessons ------------------------------------------------------------------------------

def lesson_text(lesson: LessonResult) -> str:
    verdict = "HOLDS" if lesson.holds else "DOES NOT HOLD"
    version = ".".join(map(str, sys.version_info[:3]))
    return (f"[{lesson.name}] {lesson.claim}\n  expected: {lesson.expected}\n  measured: {lesson.measured}\n"
            f"  verdict on CPython {version}: {verdict}. {lesson.why}")


# ---- The live report ---------------------------------------------------------------------

def report_text(report: Report, colour: bool = False) -> str:
    style = Style(colour)
    info = report.interpreter
    build = ", ".join(["debug" if info.debug_build else "release",
                       "free-threaded" if info.free_threaded else "GIL build",
                       "GIL on" if info.gil_enabled else "GIL off"])
    lines = [style(f"memprobe: CPython {'.'.join(map(str, info.version))} ({build})", "1"),
             f"allocator {info.allocator}, GC regime {info.gc_regime}"]
    lines += [style(f"UNSUPPORTED {part}: {why}", "31") for part, why in sorted(info.layout_problems.items())]
    lines += ["", *resident_text(report.resident).splitlines()]
    if report.mimalloc is not None:
        lines += ["", style("mimalloc", "1"), *_mimalloc_lines(report.mimalloc, style)]
    lines += ["", style("pymalloc", "1")]
    if report.pymalloc is None:
        lines.append(f"  unavailable: {report.pymalloc_unavailable}")
    else:
        lines += _pymalloc_summary(report.pymalloc, info.pymalloc.size_classes if info.pymalloc else 0)
        lines += _pymalloc_rows(report.pymalloc.size_classes, style)
        if report.fragmentation is not None:
            lines.append("  " + style(report.fragmentation.verdict, "1"))
    lines += ["", style("garbage collector", "1")]
    if report.gc is None or report.top_types is None:
        lines.append(f"  unavailable: {report.gc_unavailable}")
    else:
        lines += _gc_rows(report)
    probe, stdlib = report.fresh_object_refcounts
    lines += ["", style("reference counts", "1"),
              f"  a fresh object() held by one name: refcount {probe} (sys.getrefcount says {stdlib})"]
    return _joined(lines)


def _mimalloc_lines(mi: MimallocSnapshot, style: Style) -> List[str]:
    return [f"  {mi.scope} ({mi.threads} thread(s)" + (", abandoned pool included)" if mi.abandoned_pool else ")"),
            f"  pages {mi.pages:,}, blocks in use {mi.blocks_in_use:,}, committed "
            f"{mi.bytes_committed:,} B of {mi.bytes_reserved:,} B reserved",
            *_mimalloc_rows(mi.size_classes, style)]


def _pymalloc_summary(p: PymallocSnapshot, size_classes: int) -> List[str]:
    return [
        f"  arenas {p.arena_size // 1024} KiB, pools {p.pool_size // 1024} KiB, "
        f"{size_classes} size classes up to {p.small_request_threshold} bytes"
        + (" (+24 debug bytes per block)" if p.debug_layer else ""),
        f"  arenas: {p.arenas_current:,} live, highwater {p.arenas_highwater:,}, "
        f"{p.arenas_allocated_total:,} allocated in total, {p.arenas_reclaimed:,} reclaimed",
        f"  blocks: {p.blocks_in_use:,} in pools + {p.raw_allocated_blocks:,} raw (over "
        f"{p.small_request_threshold} B) = {p.allocated_blocks:,}",
        f"  source: {p.source}" + (", allocator hooked (e.g. tracemalloc)" if p.hooks_installed else ""),
    ]


def _gc_rows(report: Report) -> List[str]:
    g, top = report.gc, report.top_types
    assert g is not None and top is not None

    def types_of(generation: Generation, width: int) -> str:
        counts = top.per_generation.get(generation, TypeCounts())
        return _fit_entries([f"{short_type(t)} {n:,}" for t, n in counts.items()], width)

    extra = []
    if report.interpreter.free_threaded:
        extra.append(f"  no generations; tracked objects, most common: {types_of(Generation.TRACKED, 50)}")
    return _generation_rows(g, lambda gen: types_of(Generation(gen), 36), extra)


def _generation_rows(g: GCState, types_of: Optional[Callable[[int], str]] = None,
                     extra: Sequence[str] = ()) -> List[str]:
    """The collector's state line and a row per generation (with its most
    common types when given)."""
    lines = [f"  {g.regime}, {'enabled' if g.enabled else 'disabled'}"
             + (", collecting now" if g.collecting else ""), *extra]
    lines.append("  gen  count  threshold   objects" + ("  most common types" if types_of else ""))
    for gen in g.generations:
        length = "-" if gen.length is None else f"{gen.length:,}"
        lines.append(f"  {gen.generation:>3} {gen.count:>6,} {gen.threshold:>10,} {length:>9}"
                     + (f"  {types_of(gen.generation)}" if types_of else ""))
    permanent = "-" if g.permanent_length is None else f"{g.permanent_length:,}"
    lines.append(f"  permanent generation (gc.freeze): {permanent} objects")
    return lines


# ---- The generation timeline -----------------------------------------------------------------

def timeline_text(t: Timeline, most: int = 30) -> str:
    """Each collection a row: when, generation, how long, what it collected,
    counts (and lengths) after."""
    lines = [f"memprobe: {len(t.collections):,} collections in {t.elapsed * 1e3:,.1f} ms on {t.interpreter} "
             f"({t.gc_regime})",
             "        at ms  gen   duration us  collected  counts after" + ("   lengths after"
                                                                          if any(c.lengths_after for c in t.collections)
                                                                          else "")]
    for c in t.collections[:most]:
        after = "/".join(f"{n:,}" for n in c.counts_after)
        lengths = "" if c.lengths_after is None else "  " + "/".join(f"{n:,}" for n in c.lengths_after)
        lines.append(f"  {c.start * 1e3:>11,.3f}  {c.generation:>3} {c.duration * 1e6:>13,.1f} {c.collected:>10,}  "
                     f"{after}{lengths}")
    if len(t.collections) > most:
        lines.append(f"  ({len(t.collections) - most:,} more: to_svg() draws them all)")
    return _joined(lines)


# ---- pyperf-compare ---------------------------------------------------------------------------

def pyperf_compare_text(names: Sequence[str], results: Sequence[Mapping[str, Mapping[str, float]]]) -> str:
    """The memprobe numbers of two pyperf result files side by side, per
    benchmark, with b/a (as pyperf compare_to prints timings)."""
    a, b = results
    lines: List[str] = []
    for bench in [name for name in a if name in b] or ["(no benchmark in both files)"]:
        keys = sorted(set(a.get(bench, {})) | set(b.get(bench, {})))
        lines += [f"{bench}:", f"  {'':<28}{names[0][-14:]:>14}{names[1][-14:]:>14}{'b/a':>9}"]
        for key in keys:
            x, y = a[bench].get(key), b[bench].get(key)
            ratio = "" if x is None or y is None or x == 0 else f"{y / x:.2f}x"
            lines.append(f"  {key:<28}{'-' if x is None else f'{x:,.0f}':>14}{'-' if y is None else f'{y:,.0f}':>14}"
                         f"{ratio:>9}")
        if not keys:
            lines.append("  no memprobe numbers: run the benchmarks with --hook memprobe")
    return _joined(lines)


# ---- print() of the probes' own results -----------------------------------------------------

def pymalloc_text(p: PymallocSnapshot) -> str:
    lines = [f"memprobe: {p.allocator}", *_pymalloc_summary(p, len(p.size_classes)),
             *_pymalloc_rows(p.size_classes, Style(False))]
    return _joined(lines)


def mimalloc_text(m: MimallocSnapshot) -> str:
    lines = [f"memprobe: {m.allocator}", *_mimalloc_lines(m, Style(False))]
    return _joined(lines)


def gc_state_text(g: GCState) -> str:
    return "\n".join(["memprobe: the garbage collector", *_generation_rows(g)])


def printable(text: str, lines: bool = False) -> str:
    """Text another process wrote, safe for a terminal: every character
    that is not printable (escape sequences first) as a Python escape;
    newlines kept when ``lines``."""
    return "".join(c if c.isprintable() or (lines and c == "\n") else repr(c)[1:-1] for c in text)


# Types a remote census shows in text (all are in its JSON).
CENSUS_ROWS = 12


def remote_snapshot_text(r: RemoteSnapshot) -> str:
    """attach: the target's collector, as gc_state_text shows ours."""
    head = f"memprobe: process {r.pid}, CPython {r.version} ({r.runtime_file})" \
        + (", stopped for the reading" if r.stopped else "")
    lines = [head, *_generation_rows(r.gc)]
    if r.partial is not None:
        lines.append(f"  lengths not known: {r.partial}")
    if r.census is not None:
        lines.append(f"  tracked objects by type ({len(r.census):,} types):")
        lines += [f"    {c.objects:>10,}  "
                  + (printable(c.qualified) if c.qualified is not None else f"? (type at 0x{c.type_address:x})")
                  for c in r.census[:CENSUS_ROWS]]
        if len(r.census) > CENSUS_ROWS:
            lines.append(f"    ({len(r.census) - CENSUS_ROWS:,} more types)")
    if r.tracked_objects is not None:
        lines.append(f"  tracked objects (gc.get_objects()): {r.tracked_objects:,}")
    if r.mimalloc is not None:
        lines += _mimalloc_lines(r.mimalloc, Style(False))
        return _joined(lines)
    if r.gc.regime == "free-threaded":      # objects in mimalloc's heaps, never in pymalloc's arenas
        lines.append(f"  mimalloc not read: {r.mimalloc_missing}")
        return _joined(lines)
    p, f = r.pymalloc, r.fragmentation
    if p is None or f is None:
        lines.append(f"  pymalloc not read: {r.pymalloc_missing}")
    else:
        lines += [f"  {_summary_of_pymalloc(p)}, {p.unused_pools:,} empty pools",
                  f"  {_summary_of_fragmentation(f)}; returnable {mib(f.returnable_bytes)}",
                  f"  {f.verdict}"]
    return _joined(lines)


def _list_name(generation: Generation) -> str:
    key = generation_key(generation)
    return f"gen {key}" if key.isdigit() else key


def census_text(c: Census, top: int = 12) -> str:
    """Tracked objects by type, most common first, and per list."""
    lines = [f"memprobe: {c.total:,} tracked objects" + (", counted during a collection" if c.collecting else ""),
             *[f"  {n:>10,}  {type_name(t)}" for t, n in list(c.by_type.items())[:top]]]
    if len(c.by_type) > top:
        lines.append(f"  ({len(c.by_type) - top:,} more types)")
    lines.append("  by list: " + ", ".join(f"{_list_name(g)} {n:,}" for g, n in c.by_generation.items()))
    return _joined(lines)


def _fit_entries(entries: List[str], width: int) -> str:
    """Join whole entries while they fit in width characters."""
    shown: List[str] = []
    for entry in entries:
        if len(", ".join(shown + [entry])) > width:
            break
        shown.append(entry)
    return ", ".join(shown)


_ANSI = re.compile("\033\\[[0-9;]*m")


def _fit(line: str, width: Optional[int] = None) -> List[str]:
    """Wrap a line longer than width (default: the terminal's) under its own
    indentation (a word longer than a line is cut).  Colour codes take no
    columns; a line too long with them is wrapped without them."""
    width = width or terminal_width()
    if len(line) <= width or len(_ANSI.sub("", line)) <= width:
        return [line]
    line = _ANSI.sub("", line)
    indent = " " * min(len(line) - len(line.lstrip()) + 2, width // 2)
    return textwrap.wrap(line, width=width, subsequent_indent=indent, break_on_hyphens=False)


def _joined(lines: Iterable[str], width: Optional[int] = None) -> str:
    """Lines as one text, each fitted to width (default: the terminal's)."""
    return "\n".join(wrapped for line in lines for wrapped in (_fit(line, width) or [""]))


def terminal_width() -> int:
    """The columns to fit: COLUMNS, else the terminal's width, else 80
    (shutil's rule), and never fewer than 20."""
    return max(20, shutil.get_terminal_size((WIDTH, 24)).columns)


def fit_text(text: str, width: int) -> str:
    """Every line of text within width columns (see _fit)."""
    return _joined(text.split("\n"), width)



# ---- Notebook views: HTML tables -------------------------------------------------------------

HTML_ROWS = 20      # rows of a type table in a notebook; the rest is counted
HTML_DRAWN = 2000   # collections a timeline draws in a notebook


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _escape(text: str) -> str:
    """Text for HTML that is also well-formed XML: escaped, and control
    characters (which XML forbids; a type's name may hold them) shown as
    U+FFFD."""
    return _CONTROL.sub("\ufffd", html.escape(text))


def _cell(value: object, right: bool) -> str:
    align = "right" if right else "left"
    return f'<td style="text-align:{align}">{_escape(str(value))}</td>'


def html_table(headers: Sequence[str], rows: Iterable[Sequence[object]], bars: Sequence[Tuple[int, int]] = (),
               more: int = 0) -> str:
    """A monospace table: text columns left, numbers right; with ``bars``,
    a last column of fill bars ((used, free) per row) coloured by fill."""
    head = "".join(f"<th>{_escape(h)}</th>" for h in headers) + ("<th>fill</th>" if bars else "")
    body = []
    for i, row in enumerate(rows):
        cells = "".join(_cell(v, isinstance(v, (int, float)) or str(v)[:1] in "+-0123456789") for v in row)
        if bars:
            used, free = bars[i]
            css = fill_colour(used, free)[1]
            width = round(100 * used / (used + free)) if used + free else 0
            cells += (f'<td><div style="width:8em;background:#eee"><div style="width:{width}%;'
                      f'height:0.8em;background:{css}"></div></div></td>')
        body.append(f"<tr>{cells}</tr>")
    if more > 0:
        body.append(f'<tr><td colspan="{len(headers) + bool(bars)}">... {more:,} more</td></tr>')
    return (f'<table style="font-family:monospace;border-collapse:collapse"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _type_rows(counts: Mapping[Any, int], *extra: Mapping[Any, int], signed: bool = False) -> List[List[object]]:
    """(name, count, extra columns...) of the HTML_ROWS largest counts."""
    ranked = sorted(counts.items(), key=lambda kv: -abs(kv[1]))[:HTML_ROWS]
    spec = "+," if signed else ","
    return [[type_name(k) if isinstance(k, type) else k, format(n, spec),
             *[format(e.get(k, 0), spec) for e in extra]] for k, n in ranked]


def _pymalloc_html(p: PymallocSnapshot) -> str:
    rows = [[c.class_index, c.block_size, f"{c.pools:,}", f"{c.blocks_in_use:,}", f"{c.blocks_free:,}",
             binary_bytes(c.bytes_in_use)] for c in p.size_classes]
    return html_table(["class", "size", "pools", "in use", "free", "bytes in use"], rows,
                      [(c.blocks_in_use, c.blocks_free) for c in p.size_classes])


def _mimalloc_html(m: MimallocSnapshot) -> str:
    classes = sorted(m.size_classes, key=lambda c: -c.blocks_in_use)
    rows = [[c.heap, c.block_size, f"{c.pages:,}", f"{c.blocks_in_use:,}", f"{c.blocks_free:,}"]
            for c in classes[:HTML_ROWS]]
    return html_table(["heap", "size", "pages", "in use", "free"], rows,
                      [(c.blocks_in_use, c.blocks_free) for c in classes[:HTML_ROWS]],
                      more=len(classes) - HTML_ROWS)


def _gc_html(g: GCState) -> str:
    rows = [[gen.generation, f"{gen.count:,}", f"{gen.threshold:,}", "-" if gen.length is None else f"{gen.length:,}"]
            for gen in g.generations]
    return html_table(["generation", "count", "threshold", "objects"], rows)


def _census_html(c: Census) -> str:
    return (html_table(["type", "tracked objects"], _type_rows(c.by_type), more=len(c.by_type) - HTML_ROWS)
            + html_table(["list", "objects"], [[_list_name(g), f"{n:,}"] for g, n in c.by_generation.items()]))


def _block_census_html(c: BlockCensus) -> str:
    ranked = list(c.bytes.items())[:HTML_ROWS]
    rows = [[type_name(t), f"{c.blocks[t]:,}", binary_bytes(n), f"{c.arenas_touched[t]:,}"] for t, n in ranked]
    rows.append(["(no object of a known type)", f"{c.other_blocks:,}", binary_bytes(c.other_bytes), ""])
    unit = "segments" if c.allocator == "mimalloc" else "arenas"
    return html_table(["type", "blocks", "bytes", unit], rows, more=len(c.bytes) - len(ranked))


def _fragmentation_html(f: Fragmentation) -> str:
    rows = [[f"{b.low:.0%}-{b.high:.0%}", f"{b.arenas:,}", mib(b.arena_bytes), mib(b.live_bytes)]
            for b in f.occupancy]
    return (html_table(["live fraction", "arenas", "arena bytes", "live bytes"], rows,
                       [(b.live_bytes, b.arena_bytes - b.live_bytes) for b in f.occupancy])
            + f"<p>{_escape(f.verdict)}</p>")


def _resident_html(r: ResidentMemory) -> str:
    def size(n: Optional[int]) -> str:
        return "unknown" if n is None else binary_bytes(n)

    rows = [["total resident", size(r.total)], ["pymalloc arenas resident", size(r.pymalloc_resident)],
            ["  in live blocks", size(r.pymalloc_live)], ["mimalloc committed", size(r.mimalloc_committed)],
            ["malloc in use", size(r.malloc_in_use)], ["malloc free", size(r.malloc_free)],
            ["the rest", size(r.other)]]
    return html_table(["part", "bytes"], rows) + f"<p>{_escape(r.verdict)}</p>"


def _snapshot_html(s: Snapshot) -> str:
    parts = [] if s.pymalloc is None else [_pymalloc_html(s.pymalloc)]
    if s.mimalloc is not None:
        parts.append(_mimalloc_html(s.mimalloc))
    if s.objects_by_type is not None:
        parts.append(html_table(["type", "tracked objects"], _type_rows(s.objects_by_type),
                                more=len(s.objects_by_type) - HTML_ROWS))
    if s.blocks_by_type is not None and s.block_bytes_by_type is not None:
        parts.append(html_table(["type", "block bytes", "blocks"],
                                _type_rows(s.block_bytes_by_type, s.blocks_by_type),
                                more=len(s.block_bytes_by_type) - HTML_ROWS))
    return "".join(parts)


def _diff_html(d: SnapshotDiff) -> str:
    parts = []
    if d.size_classes:
        parts.append(html_table(["class", "size", "pools", "blocks in use", "bytes"],
                                [[c.class_index, c.block_size, f"{c.pools:+,}", f"{c.blocks_in_use:+,}",
                                  signed_bytes(c.bytes_in_use)] for c in d.size_classes]))
    if d.objects_by_type:
        parts.append(html_table(["type", "tracked objects"], _type_rows(d.objects_by_type, signed=True),
                                more=len(d.objects_by_type) - HTML_ROWS))
    if d.blocks_by_type:
        parts.append(html_table(["type", "blocks", "block bytes"],
                                _type_rows(d.blocks_by_type, d.block_bytes_by_type or {}, signed=True),
                                more=len(d.blocks_by_type) - HTML_ROWS))
    return "".join(parts) or "<p>no change</p>"


def _remote_html(r: RemoteSnapshot) -> str:
    parts = [_gc_html(r.gc)]
    if r.partial is not None:
        parts.append(f"<p>lengths not known: {_escape(r.partial)}</p>")
    parts.append(_pymalloc_html(r.pymalloc) if r.pymalloc is not None
                 else f"<p>pymalloc not read: {_escape(str(r.pymalloc_missing))}</p>")
    if r.fragmentation is not None:
        parts.append(f"<p>{_escape(r.fragmentation.verdict)}</p>")
    return "".join(parts)


def _report_html(r: Report) -> str:
    parts = [_resident_html(r.resident)]
    parts.append(_pymalloc_html(r.pymalloc) if r.pymalloc is not None
                 else f"<p>pymalloc unavailable: {_escape(str(r.pymalloc_unavailable))}</p>")
    if r.mimalloc is not None:
        parts.append(_mimalloc_html(r.mimalloc))
    parts.append(_gc_html(r.gc) if r.gc is not None
                 else f"<p>collector unavailable: {_escape(str(r.gc_unavailable))}</p>")
    return "".join(parts)


def _text_html(result: object) -> str:
    return f"<pre>{_escape(str(result))}</pre>"


def _explanation_html(e: Explanation) -> str:
    return "".join(f"<p>{_escape(line)}</p>" for line in e.lines)


def _timeline_html(t: Timeline) -> str:
    rows = [[f"{c.start * 1e3:,.3f}", c.generation, f"{c.duration * 1e6:,.1f}", f"{c.collected:,}",
             "/".join(f"{n:,}" for n in c.counts_after)] for c in t.collections[:HTML_ROWS]]
    # A notebook draws the first collections only: to_svg() draws them all.
    shown = t if len(t.collections) <= HTML_DRAWN else dataclasses.replace(t, collections=t.collections[:HTML_DRAWN])
    note = "" if shown is t else f"<p>the first {HTML_DRAWN:,} of {len(t.collections):,} collections drawn</p>"
    return shown.to_svg() + note + html_table(["at ms", "generation", "duration us", "collected", "counts after"],
                                              rows, more=len(t.collections) - HTML_ROWS)


_HTML: Dict[type, Callable[[Any], str]] = {
    Timeline: _timeline_html,
    PymallocSnapshot: _pymalloc_html, MimallocSnapshot: _mimalloc_html, GCState: _gc_html, Census: _census_html,
    RemoteSnapshot: _remote_html,
    BlockCensus: _block_census_html, Fragmentation: _fragmentation_html, ResidentMemory: _resident_html,
    Snapshot: _snapshot_html, SnapshotDiff: _diff_html, Report: _report_html, Explanation: _explanation_html}


def html_of(result: object) -> str:
    """A result's notebook view: its one-line summary as a heading, then
    its tables (at most HTML_ROWS rows of types each); an explanation is
    its story, one paragraph a fact."""
    view = _HTML.get(type(result), _text_html)
    title = (f"<p><b>{_escape(type(result).__name__ + ' ' + summary(result))}</b></p>"
             if type(result) in _SUMMARIES else "")
    return f'<div class="memprobe">{title}{view(result)}</div>'
