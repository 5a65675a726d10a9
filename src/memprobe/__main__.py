"""python -m memprobe: show what memprobe reads from the live interpreter."""
from __future__ import annotations

import sys
from typing import List, Optional

from . import MemprobeError, interpreter, refcount, refinfo


def report() -> List[str]:
    info = interpreter()
    build = ", ".join(
        [
            "debug" if info.debug_build else "release",
            "free-threaded" if info.free_threaded else "GIL build",
            "GIL on" if info.gil_enabled else "GIL off",
        ]
    )
    lines = [
        "memprobe: the live interpreter",
        f"  CPython        {'.'.join(map(str, info.version))} ({build})",
        f"  allocator      {info.allocator}",
        f"  GC regime      {info.gc_regime}",
    ]
    if info.pymalloc is not None:
        c = info.pymalloc
        checked = "checked against _debugmallocstats" if c.verified else "not checkable under this allocator"
        lines += [
            f"  pymalloc       arenas {c.arena_size // 1024} KiB, pools {c.pool_size // 1024} KiB, "
            f"alignment {c.alignment}",
            f"                 {c.size_classes} size classes up to {c.small_request_threshold} bytes ({checked})",
        ]
    for part, why in sorted(info.layout_problems.items()):
        lines.append(f"  UNSUPPORTED    {part}: {why}")

    lines += ["", "reference counts (the field as the call sees it; sys.getrefcount alongside):"]
    demo = object()
    samples = [("a new object()", demo), ("None", None), ("the int 7", 7), ("the str 'memprobe'", "memprobe")]
    for label, obj in samples:
        try:
            count = refcount(obj)
            immortal = refinfo(obj).immortal
        except MemprobeError as exc:
            lines.append(f"  {label:<22} unavailable: {exc}")
            continue
        expected = sys.getrefcount(obj)
        lines.append(f"  {label:<22} {count:>12,}   sys.getrefcount {expected:>12,}"
                     + ("   immortal" if immortal else ""))
    holders = [demo] * 3
    lines.append(f"  after [obj] * 3        {refcount(demo):>12,}   (three more references)")
    del holders
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print("usage: python -m memprobe\n\nShow the running interpreter and a refcount demonstration.")
        return 0
    if argv:
        print(f"memprobe: unknown arguments: {' '.join(argv)}", file=sys.stderr)
        return 2
    print("\n".join(report()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
