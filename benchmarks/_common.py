"""What the benchmark scripts share: timing, formatting, and the stdlib
recipe memprobe's snapshot is compared with."""
from __future__ import annotations

import re
import timeit
from typing import Callable, List, Optional, Tuple

from memprobe._pymalloc import capture_debugmallocstats

CLASS_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)


def best_time(func: Callable[[], object], budget: float = 0.3) -> float:
    """Seconds per call: the best of 3 repeats of an autoranged loop."""
    timer = timeit.Timer(func)
    number, elapsed = timer.autorange()
    if elapsed > budget * 5:
        number = 1
    return min(timer.repeat(repeat=3, number=number)) / number


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def debugmallocstats_recipe() -> List[Tuple[str, ...]]:
    """Capture sys._debugmallocstats() through fd 2 and parse its size classes."""
    return CLASS_LINE.findall(capture_debugmallocstats())


def emit_table(lines: List[str], markdown_path: Optional[str]) -> None:
    """Print a Markdown table, and write it to markdown_path when given."""
    table = "\n".join(lines)
    print(table)
    if markdown_path:
        with open(markdown_path, "w", encoding="utf-8") as out:
            out.write(table + "\n")
