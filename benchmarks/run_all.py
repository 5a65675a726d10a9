"""Run the benchmark suite on every heap and report it against the goals.

Runs bench_pyperf.py (pyperf) once per heap, pairs each probe with its stdlib
counterpart into ratios, checks them against GOALS, writes
benchmarks/results-<interpreter>.md and replaces the block between the
benchmark markers in README.md.

    python -m pip install '.[bench]'
    python benchmarks/run_all.py [--heaps 10000,1000000] [--heaps-mb 10,100] [--rigorous]
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

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
# The goals, the one place they are stated: comparison -> (the heap the goal
# is stated for, None for every heap; the least ratio stdlib / memprobe).
GOALS = {
    "generation(young) vs scanning get_objects": ("1,000,000 objects", 10_000.0),
    "generation(old) vs scanning get_objects": ("1,000,000 objects", 1_000.0),
    "census() vs Counter over get_objects()": ("1,000,000 objects", 10.0),
    "pymalloc() vs fd-2 _debugmallocstats + parse": (None, 10.0),
    "pymalloc() vs sys.getallocatedblocks()": (None, 0.5),  # memprobe at most 2x the floor
}
HEAP_SHAPES = {"--heap": "{:,} objects", "--heap-mb": "{:,} MB of 96-byte blocks"}


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def run_heap(option: str, size: int, rigorous: bool) -> Dict[str, float]:
    """Mean seconds per benchmark of one bench_pyperf.py run on one heap."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, str(HERE / "bench_pyperf.py"), "--rigorous" if rigorous else "--fast",
               option, str(size), "--quiet", "-o", str(out)]
        print(f"[run_all] {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        suite = pyperf.BenchmarkSuite.load(str(out))
        return {b.get_name(): b.mean() for b in suite.get_benchmarks()}


def goal_text(name: str, heap: str, ratio: float) -> str:
    if name not in GOALS or GOALS[name][0] not in (None, heap):
        return ""
    goal = GOALS[name][1]
    wanted = f"≥ {goal:,.0f}×" if goal >= 1 else f"memprobe ≤ {1 / goal:.0f}× stdlib"
    return wanted + (" met" if ratio >= goal else " **not met**")


def table(heading: str, results: List[Tuple[str, Dict[str, float]]]) -> str:
    lines = [heading, "", "| heap | comparison | memprobe | stdlib | ratio | goal |", "|---|---|---:|---:|---:|---|"]
    for heap, times in results:
        for name in (n[: -len(" | memprobe")] for n in times if n.endswith(" | memprobe")):
            probe, stdlib = times[f"{name} | memprobe"], times[f"{name} | stdlib"]
            lines.append(f"| {heap} | {name} | {fmt_time(probe)} | {fmt_time(stdlib)} | {stdlib / probe:,.1f}× "
                         f"| {goal_text(name, heap, stdlib / probe)} |")
    lines += ["", "| heap | workload: build and drop a dict of 100,000 objects | time | vs plain |",
              "|---|---|---:|---:|"]
    for heap, times in results:
        for variant in ("plain", "memprobe snapshots around it", "tracemalloc on"):
            t = times[f"workload | {variant}"]
            lines.append(f"| {heap} | {variant} | {fmt_time(t)} | {t / times['workload | plain']:.2f}× |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--heaps", default="10000,1000000", help="heaps of N tracked objects, comma-separated")
    parser.add_argument("--heaps-mb", default="10,100", help="heaps of M MB of live 96-byte blocks, comma-separated")
    parser.add_argument("--rigorous", action="store_true", help="pyperf --rigorous instead of --fast")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    args = parser.parse_args()
    runs = [("--heap", int(n)) for n in args.heaps.split(",") if n]
    runs += [("--heap-mb", int(m)) for m in args.heaps_mb.split(",") if m]
    results = [(HEAP_SHAPES[option].format(size), run_heap(option, size, args.rigorous)) for option, size in runs]

    info = memprobe.interpreter()
    build = ("debug" if info.debug_build else "release") + ("-free-threaded" if info.free_threaded else "")
    version = ".".join(map(str, info.version))
    text = table(f"CPython {version} ({build}, {info.allocator}, GC {info.gc_regime}), pyperf "
                 f"{'--rigorous' if args.rigorous else '--fast'} means; ratio = stdlib time / memprobe time.",
                 results)
    print(text)
    (HERE / f"results-cpython-{version}-{build}.md").write_text(text + "\n", encoding="utf-8")
    if not args.no_readme and README.exists():
        readme = README.read_text(encoding="utf-8")
        if START in readme and END in readme:
            head, rest = readme.split(START, 1)
            _, tail = rest.split(END, 1)
            README.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
