"""Run the benchmark suite on every heap and report it against the goals.

Runs bench_pyperf.py (pyperf) once per heap and shape, puts each probe next
to its floor, the stdlib way and the peers, checks the goals (_goal), writes
benchmarks/results-<interpreter>.md and replaces the block between the
benchmark markers in README.md.

    python -m pip install '.[bench]'
    python benchmarks/run_all.py [--heaps 100000,1000000,10000000] [--shapes ordered,shuffled,frozen]
                                 [--heaps-mb 10,100] [--rigorous]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pyperf

import memprobe

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
PEERS = ("objgraph", "guppy3", "pympler")


# The goals, the one place they are stated (issue 13): a test of the row,
# the ratio it bounds ("floor": memprobe / floor, at most the bound;
# "stdlib": stdlib / memprobe, at least the bound) and the bound.
def _goal(row: "Row") -> Optional[Tuple[str, float]]:
    probe, shape, heap = row.probe, row.shape, row.heap
    if probe.startswith(("generation(", "gcinfo(")):
        if shape == "frozen" and "middle of old" in probe:
            return "stdlib", 1.0          # the object is frozen: never slower than the stdlib scan
        return "floor", 50.0              # at most 50x refcount()
    if probe in ("census()", "snapshot()"):
        return "floor", 1.2
    if probe == "snapshot(census=False)":
        return "floor", 2.0
    if probe == "pymalloc()" and heap.endswith("MB"):
        return "floor", 2.0
    if probe == "refinfo(x)":
        return "floor", 5.0
    return None


class Row:
    def __init__(self, heap: str, shape: str, probe: str, times: Dict[str, float]) -> None:
        self.heap, self.shape, self.probe = heap, shape, probe
        self.times = {way: times[f"{probe} | {way}"] for way in ("memprobe", "floor", "stdlib", *PEERS)
                      if f"{probe} | {way}" in times}

    def ratio(self, way: str) -> Optional[float]:
        if way not in self.times:
            return None
        return self.times["memprobe"] / self.times[way] if way == "floor" else self.times[way] / self.times["memprobe"]

    def goal_text(self) -> str:
        goal = _goal(self)
        if goal is None or self.ratio(goal[0]) is None:
            return ""
        way, bound = goal
        ratio = self.ratio(way)
        assert ratio is not None
        if way == "floor":
            return f"≤ {bound:g}× floor" + (" met" if ratio <= bound else " **not met**")
        return f"≥ {bound:g}× stdlib" + (" met" if ratio >= bound else " **not met**")


def fmt_time(seconds: Optional[float]) -> str:
    if seconds is None:
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_ratio(ratio: Optional[float]) -> str:
    return "" if ratio is None else f"{ratio:,.1f}×" if ratio >= 10 else f"{ratio:.2f}×"


def run_heap(option: str, size: int, shape: str, speed: List[str]) -> Dict[str, float]:
    """Mean seconds per benchmark of one bench_pyperf.py run on one heap."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, str(HERE / "bench_pyperf.py"), *speed, option, str(size), "--shape", shape,
               "--quiet", "-o", str(out)]
        print(f"[run_all] {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        suite = pyperf.BenchmarkSuite.load(str(out))
        return {b.get_name(): b.mean() for b in suite.get_benchmarks()}


def table(heading: str, results: List[Tuple[str, str, Dict[str, float]]]) -> str:
    lines = [heading, "",
             "| heap | shape | probe | memprobe | floor | memprobe/floor | stdlib | stdlib/memprobe | "
             "peers (their time / memprobe's) | goal |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for heap, shape, times in results:
        probes = [n[: -len(" | memprobe")] for n in times if n.endswith(" | memprobe")]
        for probe in probes:
            row = Row(heap, shape, probe, times)
            peers = ", ".join(f"{peer} {fmt_time(row.times[peer])} ({fmt_ratio(row.ratio(peer))})"
                              for peer in PEERS if peer in row.times)
            lines.append(f"| {heap} | {shape} | {probe} | {fmt_time(row.times['memprobe'])} | "
                         f"{fmt_time(row.times.get('floor'))} | {fmt_ratio(row.ratio('floor'))} | "
                         f"{fmt_time(row.times.get('stdlib'))} | {fmt_ratio(row.ratio('stdlib'))} | {peers} | "
                         f"{row.goal_text()} |")
    lines += ["", "| heap | shape | workload: build and drop a dict of 100,000 objects | time | vs plain |",
              "|---|---|---|---:|---:|"]
    for heap, shape, times in results:
        for variant in ("plain", "memprobe snapshots around it", "tracemalloc on"):
            t = times[f"workload | {variant}"]
            lines.append(f"| {heap} | {shape} | {variant} | {fmt_time(t)} | {t / times['workload | plain']:.2f}× |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--heaps", default="100000,1000000", help="heaps of N tracked objects, comma-separated")
    parser.add_argument("--shapes", default="ordered,shuffled,frozen", help="heap shapes, comma-separated")
    parser.add_argument("--heaps-mb", default="10,100", help="heaps of M MB of live 96-byte blocks, comma-separated")
    parser.add_argument("--rigorous", action="store_true", help="pyperf --rigorous instead of --fast")
    parser.add_argument("--quick", action="store_true",
                        help="one worker process, one warmup and three values per benchmark (about 6x faster "
                             "than --fast on 10^6-object heaps, which each worker builds again)")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    args = parser.parse_args()
    speed = (["--rigorous"] if args.rigorous else ["--processes", "1", "--warmups", "1", "--values", "3"]
             if args.quick else ["--fast"])
    runs = [("--heap", int(n), shape) for n in args.heaps.split(",") if n for shape in args.shapes.split(",")]
    runs += [("--heap-mb", int(m), "ordered") for m in args.heaps_mb.split(",") if m]
    results = [(f"{size:,} objects" if option == "--heap" else f"{size:,} MB", shape,
                run_heap(option, size, shape, speed)) for option, size, shape in runs]

    info = memprobe.interpreter()
    build = ("debug" if info.debug_build else "release") + ("-free-threaded" if info.free_threaded else "")
    version = ".".join(map(str, info.version))
    text = table(f"CPython {version} ({build}, {info.allocator}, GC {info.gc_regime}), pyperf "
                 f"{' '.join(speed)} means. The floor is the least work that "
                 "answers the same question (a bare C walk of the same lists, sys.getallocatedblocks() for "
                 "the same arena walk, refcount() for one object's header).", results)
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
