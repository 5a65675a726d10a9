"""pymalloc() against the stdlib ways, side by side, on heaps of growing size.

    python benchmarks/pymalloc_probes.py [--sizes-mb 10,100,1000,2000] [--markdown FILE]

For each heap size (that many megabytes of live 96-byte blocks), times:

- memprobe.pymalloc(): the typed snapshot;
- what people do today: redirect file descriptor 2 to a temporary file,
  call sys._debugmallocstats(), read the text back and parse it with
  regular expressions (the pymemtrace recipe);
- sys.getallocatedblocks(): the same walk over every arena, one number,
  the floor for any snapshot.

Ratios: recipe / memprobe (higher is better), memprobe / getallocatedblocks
(lower is better; the goal is at most 2x).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import timeit
from typing import Callable, Dict, List, Tuple

import memprobe

LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)
VALUE = re.compile(r"^(#[^=]+?)\s+=\s+([\d,]+)$", re.M)


def debugmallocstats_recipe() -> Tuple[List[Tuple[int, ...]], Dict[str, int]]:
    """Capture sys._debugmallocstats() through fd 2 and parse it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode()
    classes = [tuple(map(int, m)) for m in LINE.findall(text)]
    values = {k.strip(): int(v.replace(",", "")) for k, v in VALUE.findall(text)}
    return classes, values


def best_time(func: Callable[[], object]) -> float:
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=3, number=number)) / number


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", default="10,100,1000,2000")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()

    info = memprobe.interpreter()
    rows = []
    heap: List[bytes] = []
    for megabytes in (int(s) for s in args.sizes_mb.split(",")):
        # bytes(50): 83 bytes requested, a 96-byte block.
        target = megabytes * 1_000_000 // 96
        heap.extend(bytes(50) for _ in range(target - len(heap)))
        print(f"heap of {megabytes:,} MB in small blocks ...", file=sys.stderr, flush=True)
        snap = memprobe.pymalloc()
        probe = best_time(memprobe.pymalloc)
        recipe = best_time(debugmallocstats_recipe)
        floor = best_time(sys.getallocatedblocks)
        rows.append((megabytes, snap.arenas_current, probe, recipe, floor))

    lines = [
        f"CPython {'.'.join(map(str, info.version))}, snapshot source `{snap.source}`; "
        "best of repeated timeit runs.",
        "",
        "| live small blocks | arenas | pymalloc() | fd-2 capture + parse | getallocatedblocks() "
        "| recipe / pymalloc() (goal ≥ 10×) | pymalloc() / getallocatedblocks() (goal ≤ 2×) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for megabytes, arenas, probe, recipe, floor in rows:
        lines.append(
            f"| {megabytes:,} MB | {arenas:,} | {fmt_time(probe)} | {fmt_time(recipe)} | {fmt_time(floor)} "
            f"| {recipe / probe:,.1f}× | {probe / floor:,.2f}× |"
        )
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
