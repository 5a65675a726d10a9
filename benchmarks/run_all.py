"""One command for every benchmark: runs bench_pyperf.py (pyperf) for each
heap size, pairs each probe with its stdlib counterpart into ratios, prints
the goal figures next to the measured ones, writes benchmarks/RESULTS.md and
replaces the block between the benchmark markers in README.md.

    python -m pip install '.[bench]'
    python benchmarks/run_all.py [--heaps 10000,100000,1000000] [--rigorous]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

import pyperf

import memprobe
from _common import fmt_time

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
# (comparison, heap size the goal is stated for, goal, direction)
GOALS = {
    "generation(young) vs scanning get_objects": (1_000_000, 10_000.0, "≥"),
    "generation(old) vs scanning get_objects": (1_000_000, 1_000.0, "≥"),
    "census() vs Counter over get_objects()": (1_000_000, 10.0, "≥"),
    "pymalloc() vs fd-2 _debugmallocstats + parse": (None, 10.0, "≥"),
    "pymalloc() vs sys.getallocatedblocks()": (None, 0.5, "≥"),  # memprobe at most 2x the floor
}


def run_heap(heap: int, rigorous: bool) -> Dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, str(HERE / "bench_pyperf.py"), "--rigorous" if rigorous else "--fast",
               "--heap", str(heap), "--quiet", "-o", str(out)]
        print(f"[run_all] heap {heap:,}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        suite = pyperf.BenchmarkSuite.load(str(out))
        return {b.get_name(): b.mean() for b in suite.get_benchmarks()}


def table(results: List[Tuple[int, Dict[str, float]]]) -> str:
    info = memprobe.interpreter()
    lines = [
        f"CPython {'.'.join(map(str, info.version))} ({'debug' if info.debug_build else 'release'}, "
        f"{info.allocator}), pyperf means; ratio = stdlib time / memprobe time.",
        "",
        "| heap (tracked objects) | comparison | memprobe | stdlib | ratio | goal |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for heap, times in results:
        names = sorted({n.split(" | ")[0] for n in times if n.endswith(" | memprobe")})
        for name in names:
            probe, stdlib = times[f"{name} | memprobe"], times[f"{name} | stdlib"]
            ratio = stdlib / probe
            goal_text = ""
            if name in GOALS:
                goal_heap, goal, _ = GOALS[name]
                if goal_heap in (None, heap):
                    met = ratio >= goal
                    goal_text = (f"≥ {goal:,.0f}×" if goal >= 1 else f"memprobe ≤ {1 / goal:.0f}× stdlib") + (
                        " met" if met else " **not met**")
            lines.append(f"| {heap:,} | {name} | {fmt_time(probe)} | {fmt_time(stdlib)} | {ratio:,.1f}× | {goal_text} |")
    lines += ["", "| heap (tracked objects) | workload: build and drop a dict of 100,000 objects | time | vs plain |",
              "|---:|---|---:|---:|"]
    for heap, times in results:
        plain = times["workload | plain"]
        for variant in ("plain", "memprobe snapshots around it", "tracemalloc on"):
            t = times[f"workload | {variant}"]
            lines.append(f"| {heap:,} | {variant} | {fmt_time(t)} | {t / plain:.2f}× |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heaps", default="10000,100000,1000000")
    parser.add_argument("--rigorous", action="store_true", help="pyperf --rigorous instead of --fast")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    args = parser.parse_args()
    results = [(heap, run_heap(heap, args.rigorous)) for heap in map(int, args.heaps.split(","))]
    text = table(results)
    print(text)
    (HERE / "RESULTS.md").write_text(text + "\n", encoding="utf-8")
    if not args.no_readme and README.exists():
        readme = README.read_text(encoding="utf-8")
        if START in readme and END in readme:
            head, rest = readme.split(START, 1)
            _, tail = rest.split(END, 1)
            README.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
