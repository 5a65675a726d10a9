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
import sys
from typing import List

import memprobe
from _common import best_time, debugmallocstats_recipe, emit_table, fmt_time

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
    emit_table(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
