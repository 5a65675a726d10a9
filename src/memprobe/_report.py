"""The live report behind `python -m memprobe`: build and allocator, pymalloc's
size classes with usage bars (or mimalloc's heaps), the collector's
generations with their top types (free-threaded: tracked objects).  Fits 80 columns; colour only on a terminal without NO_COLOR."""
from __future__ import annotations

import dataclasses
import os
import sys
import textwrap
from typing import Any, Callable, Dict, List, TextIO, Tuple

from ._memprobe import MemprobeError, census, gc_state, refcount
from ._mimalloc import mimalloc
from ._pymalloc import pymalloc
from ._types import Generation, Interpreter

BAR = 20


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


class _Style:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text


def _short_type(tp: type) -> str:
    return tp.__qualname__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"


def _allocator_data(probe: Callable[[], Any], totals: Tuple[str, ...]) -> Dict[str, Any]:
    """An allocator snapshot as plain data, with the totals its properties
    compute, or the reason it is unavailable."""
    try:
        snap = probe()
    except MemprobeError as exc:
        return {"unavailable": str(exc)}
    data: Dict[str, Any] = dataclasses.asdict(snap)
    data["size_classes"] = [c._asdict() for c in snap.size_classes]
    data.update((name, getattr(snap, name)) for name in totals)
    return data


def gather() -> Dict[str, Any]:
    """Everything the report shows, as plain data (the --json output)."""
    from . import interpreter

    info = interpreter()
    data: Dict[str, Any] = {"interpreter": dataclasses.asdict(info)}
    data["pymalloc"] = _allocator_data(pymalloc, ("blocks_in_use", "allocated_blocks"))
    data["mimalloc"] = _allocator_data(
        mimalloc, ("blocks_in_use", "pages", "bytes_committed", "bytes_reserved"))
    try:
        state = gc_state()
        data["gc"] = dataclasses.asdict(state)
        top = census(top=3)
        data["gc"]["top_types"] = {
            g.name: {_short_type(t): n for t, n in per.items()} for g, per in top.per_generation.items()}
    except MemprobeError as exc:
        data["gc"] = {"unavailable": str(exc)}
    return data


def render(data: Dict[str, Any], colour: bool = False) -> str:
    style = _Style(colour)
    info = Interpreter(**{**data["interpreter"], "pymalloc": None})
    build = ", ".join(["debug" if info.debug_build else "release",
                       "free-threaded" if info.free_threaded else "GIL build",
                       "GIL on" if info.gil_enabled else "GIL off"])
    lines = [style(f"memprobe: CPython {'.'.join(map(str, info.version))} ({build})", "1"),
             f"allocator {info.allocator}, GC regime {info.gc_regime}"]
    for part, why in sorted(info.layout_problems.items()):
        lines.append(style(f"UNSUPPORTED {part}: {why}", "31"))
    constants = data["interpreter"]["pymalloc"]

    mi = data.get("mimalloc", {"unavailable": "not gathered"})
    if "unavailable" not in mi:
        lines += ["", style("mimalloc", "1"),
                  f"  {mi['scope']} ({mi['threads']} thread(s)"
                  + (", abandoned pool included)" if mi["abandoned_pool"] else ")"),
                  f"  pages {mi['pages']:,}, blocks in use {mi['blocks_in_use']:,}, committed "
                  f"{mi['bytes_committed']:,} B of {mi['bytes_reserved']:,} B reserved",
                  "  heap     size  pages     in use      free  fill"]
        busiest = sorted(mi["size_classes"], key=lambda c: -c["blocks_in_use"])[:12]
        for c in busiest:
            total = c["blocks_in_use"] + c["blocks_free"]
            filled = round(BAR * c["blocks_in_use"] / total) if total else 0
            bar = style("#" * filled, "32") + "." * (BAR - filled)
            lines.append(f"  {c['heap']:<7}{c['block_size']:>6} {c['pages']:>6,} {c['blocks_in_use']:>10,} "
                         f"{c['blocks_free']:>9,}  {bar}")
        if len(mi["size_classes"]) > len(busiest):
            lines.append(f"  ({len(mi['size_classes']) - len(busiest)} quieter classes: memprobe.mimalloc())")

    lines += ["", style("pymalloc", "1")]
    pm = data["pymalloc"]
    if "unavailable" in pm:
        lines.append(f"  unavailable: {pm['unavailable']}")
    else:
        lines += [
            f"  arenas {constants['arena_size'] // 1024} KiB, pools {constants['pool_size'] // 1024} KiB, "
            f"{constants['size_classes']} size classes up to {constants['small_request_threshold']} bytes"
            + (" (+24 debug bytes per block)" if pm["debug_padding"] else ""),
            f"  arenas: {pm['arenas_current']:,} live, highwater {pm['arenas_highwater']:,}, "
            f"{pm['arenas_allocated_total']:,} allocated in total, {pm['arenas_reclaimed']:,} reclaimed",
            f"  blocks: {pm['blocks_in_use']:,} in pools + {pm['raw_allocated_blocks']:,} raw (over "
            f"{constants['small_request_threshold']} B) = {pm['allocated_blocks']:,}",
            f"  source: {pm['source']}" + (", allocator hooked (e.g. tracemalloc)" if pm["hooks_installed"] else ""),
            "  class  size  pools     in use      free  fill",
        ]
        for c in pm["size_classes"]:
            total = c["blocks_in_use"] + c["blocks_free"]
            filled = round(BAR * c["blocks_in_use"] / total) if total else 0
            bar = style("#" * filled, "32") + "." * (BAR - filled)
            lines.append(f"  {c['class_index']:>5} {c['block_size']:>5} {c['pools']:>6,} {c['blocks_in_use']:>10,} "
                         f"{c['blocks_free']:>9,}  {bar}")

    lines += ["", style("garbage collector", "1")]
    g = data["gc"]
    if "unavailable" in g:
        lines.append(f"  unavailable: {g['unavailable']}")
    else:
        state = "enabled" if g["enabled"] else "disabled"
        lines.append(f"  {g['regime']}, {state}" + (", collecting now" if g["collecting"] else ""))
        top = g["top_types"]
        if info.free_threaded:
            types = _fit_entries([f"{t} {n:,}" for t, n in top.get("TRACKED", {}).items()], 50)
            lines.append(f"  no generations; tracked objects, most common: {types}")
        lines.append("  gen  count  threshold   objects  most common types")
        for gen in g["generations"]:
            name = Generation(gen["generation"]).name
            types = _fit_entries([f"{t} {n:,}" for t, n in top.get(name, {}).items()], 36)
            length = "-" if gen["length"] is None else f"{gen['length']:,}"
            lines.append(f"  {gen['generation']:>3} {gen['count']:>6,} {gen['threshold']:>10,} {length:>9}  "
                         f"{types}")
        permanent = "-" if g["permanent_length"] is None else f"{g['permanent_length']:,}"
        lines.append(f"  permanent generation (gc.freeze): {permanent} objects")

    demo = object()
    lines += ["", style("reference counts", "1"),
              f"  a fresh object() held by one name: refcount {refcount(demo)} "
              f"(sys.getrefcount says {sys.getrefcount(demo)})"]
    return "\n".join(wrapped for line in lines for wrapped in _fit(line))


def _fit_entries(entries: List[str], width: int) -> str:
    """Join whole entries while they fit in width characters."""
    shown: List[str] = []
    for entry in entries:
        if len(", ".join(shown + [entry])) > width:
            break
        shown.append(entry)
    return ", ".join(shown)


def _fit(line: str, width: int = 80) -> List[str]:
    """Wrap a long line (an error message) under its own indentation."""
    if len(line) <= width or "\033[" in line:
        return [line]
    indent = " " * (len(line) - len(line.lstrip()) + 2)
    return textwrap.wrap(line, width=width, subsequent_indent=indent, break_on_hyphens=False)


def report_text(stream: TextIO = sys.stdout) -> str:
    return render(gather(), use_colour(stream))
