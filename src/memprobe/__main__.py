"""python -m memprobe: the live interpreter, and running scripts under measure().

    python -m memprobe                       report on the live interpreter
    python -m memprobe run [--json] [--collect] [-o FILE] script.py [args...]
"""
from __future__ import annotations

import argparse
import builtins
import io
import json
import os
import sys
import types
from typing import List, Optional

from . import MemprobeError, interpreter, refcount, refinfo
from ._snapshot import measure


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


def run_script(args: argparse.Namespace) -> int:
    """Run a script as __main__, like python -m cProfile, under measure().

    The script's module stays alive until the second snapshot, so what it
    keeps in globals shows in the diff."""
    path = args.script
    try:
        with io.open_code(path) as source:
            code = compile(source.read(), path, "exec")
    except OSError as exc:
        print(f"memprobe run: can't open file {os.path.abspath(path)!r}: "
              f"[Errno {exc.errno}] {exc.strerror}", file=sys.stderr)
        return 2
    sys.argv = [path, *args.args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    main_module = types.ModuleType("__main__")
    main_module.__dict__.update(__file__=path, __builtins__=builtins, __cached__=None)
    saved_main = sys.modules.get("__main__")
    measurement = measure(collect=args.collect)
    exit_code: object = 0
    try:
        with measurement:
            sys.modules["__main__"] = main_module
            try:
                exec(code, main_module.__dict__)
            except SystemExit as exc:
                exit_code = exc.code
    finally:
        if saved_main is not None:
            sys.modules["__main__"] = saved_main
        if measurement.after is not None:
            _print_run(args, measurement, exit_code)
    if exit_code is None:
        return 0
    if isinstance(exit_code, int):
        return exit_code
    print(exit_code, file=sys.stderr)
    return 1


def _print_run(args: argparse.Namespace, measurement: measure, exit_code: object) -> None:
    if args.json:
        text = json.dumps({"script": args.script, "argv": sys.argv,
                           "exit_code": exit_code if isinstance(exit_code, int) or exit_code is None else 1,
                           "diff": measurement.diff.to_dict()})
    else:
        text = f"memprobe run {args.script}: exit code {exit_code}\n{measurement.diff}"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        sys.stdout.flush()
        print(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m memprobe", description="Memory facts of the live CPython.")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run a script and print the allocator diff of the run")
    run.add_argument("--json", action="store_true", help="print the diff as JSON only")
    run.add_argument("--collect", action="store_true", help="gc.collect() before each snapshot")
    run.add_argument("-o", "--output", help="write the diff to this file instead of stdout")
    run.add_argument("script")
    run.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "run":
        return run_script(args)
    print("\n".join(report()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
