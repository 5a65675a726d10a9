"""python -m memprobe: the live interpreter, scripts under measure(), lessons.

    python -m memprobe [--json]              report on the live interpreter
    python -m memprobe run [--json] [--collect] [-o FILE] script.py [args...]
    python -m memprobe explain EXPR          explain one object
    python -m memprobe lessons [NAME]        classic claims checked live
    python -m memprobe map [-o FILE]         the arena map as SVG (3.12+)
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

from ._memprobe import MemprobeError
from ._snapshot import measure


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


def explain_expression(args: argparse.Namespace) -> int:
    from ._explain import explain

    try:
        value = eval(args.expression, {"__builtins__": builtins, "sys": sys})
    except Exception as exc:
        print(f"memprobe explain: cannot evaluate {args.expression!r}: {exc!r}", file=sys.stderr)
        return 2
    print(explain(value))
    return 0


def show_lessons(args: argparse.Namespace) -> int:
    from .lessons import LESSONS

    names = args.names or list(LESSONS)
    unknown = [n for n in names if n not in LESSONS]
    if unknown:
        print(f"memprobe lessons: no lesson {', '.join(unknown)}; there are: {', '.join(LESSONS)}",
              file=sys.stderr)
        return 2
    for index, name in enumerate(names):
        print(("\n" if index else "") + str(LESSONS[name]()))
    return 0


def draw_map(args: argparse.Namespace) -> int:
    from ._pymalloc import arenas

    svg = arenas().to_svg()
    if args.output == "-":
        print(svg)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(svg + "\n")
        print(f"memprobe map: wrote {args.output}")
    return 0


def show_report(args: argparse.Namespace) -> int:
    from ._report import gather, report

    if args.json:
        print(json.dumps(gather().to_dict(), indent=2))
    else:
        print(report(sys.stdout))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m memprobe", description="Memory facts of the live CPython.")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    commands = parser.add_subparsers(dest="command")
    parser.set_defaults(func=show_report, command="report")
    run = commands.add_parser("run", help="run a script and print the allocator diff of the run")
    run.add_argument("--json", action="store_true", help="print the diff as JSON only")
    run.add_argument("--collect", action="store_true", help="gc.collect() before each snapshot")
    run.add_argument("-o", "--output", help="write the diff to this file instead of stdout")
    run.add_argument("script")
    run.add_argument("args", nargs=argparse.REMAINDER)
    run.set_defaults(func=run_script)
    explain = commands.add_parser("explain", help="explain one object: python -m memprobe explain '[1, 2]'")
    explain.add_argument("expression")
    explain.set_defaults(func=explain_expression)
    lessons = commands.add_parser("lessons", help="run the lessons (all, or those named)")
    lessons.add_argument("names", nargs="*")
    lessons.set_defaults(func=show_lessons)
    arena_map = commands.add_parser("map", help="draw pymalloc's arenas as SVG (3.12+)")
    arena_map.add_argument("-o", "--output", default="arenas.svg", help="SVG file to write ('-' for stdout)")
    arena_map.set_defaults(func=draw_map)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        code: int = args.func(args)
    except MemprobeError as exc:
        print(f"memprobe {args.command}: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
