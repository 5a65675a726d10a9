"""python -m memprobe: the live interpreter, scripts under measure(), lessons.

    python -m memprobe [--json]              report on the live interpreter
    python -m memprobe run [--json] [--collect] [--blocks] [-o FILE] [-m] script.py [args...]
    python -m memprobe explain [--json] EXPR explain one object
    python -m memprobe lessons [NAME]        classic claims checked live
    python -m memprobe map [--json] [-o FILE] [--colour fill|type|size]   the arena map as SVG (3.12+)
    python -m memprobe where [--json]        where did my memory go
    python -m memprobe timeline [--json] [-o FILE] [--html] [--lengths] [-m] script.py [args...]
    python -m memprobe pyperf-compare [--json] a.json b.json   pyperf --hook memprobe's numbers
    python -m memprobe schema                the JSON Schema of every --json document
"""
from __future__ import annotations

import argparse
import builtins
import contextlib
import errno
import json
import os
import runpy
import sys
import time
import traceback
from typing import Any, ContextManager, Dict, List, Optional, TextIO, Tuple

from ._memprobe import MemprobeError
from ._render import resident_change_text
from ._rss import rss
from ._serialize import command_document
from ._snapshot import measure
from ._types import ResidentMemory


def run_script(args: argparse.Namespace) -> int:
    """Run a script, a directory or zipapp with __main__.py, or (-m) a
    module as __main__ under measure(), and exit as ``python script.py``
    would: same exit status, same message or traceback on stderr, the
    script's stdout untouched.  memprobe's diff goes to stderr; with --json
    to -o FILE, or to stdout, the script's own sys.stdout then going to
    stderr so that stdout holds only the JSON.

    What the script keeps in its globals is still alive at the second
    snapshot, so it shows in the diff."""
    if not _can_run(args):
        return 2
    # Read before the first snapshot, so the measured block holds it already.
    resident_before = rss()
    measurement = measure(collect=args.collect, blocks=args.blocks)
    script_stdout = sys.stderr if args.json and not args.output else sys.stdout
    failure, kept = _execute(args, measurement, script_stdout)
    # Read while the script's globals are still alive, as the diff was.
    resident = (resident_before, rss())
    del kept
    exit_code = _exit_status(failure)
    _print_run(args, measurement, resident, exit_code)
    return exit_code


def _can_run(args: argparse.Namespace) -> bool:
    """Whether the target exists (a module is found when it runs), saying
    why not as python would."""
    if not args.module and not os.path.exists(args.target):
        print(f"memprobe {args.command}: can't open file {os.path.abspath(args.target)!r}: "
              f"[Errno {errno.ENOENT}] {os.strerror(errno.ENOENT)}", file=sys.stderr)
        return False
    return True


def _execute(args: argparse.Namespace, around: ContextManager[object],
             script_stdout: TextIO) -> Tuple[Optional[BaseException], object]:
    """Run the target (a script, a directory or zipapp, or -m a module) as
    __main__ inside ``around``: (what it raised or None, its globals)."""
    sys.argv = [args.target, *args.args]
    if not args.module:
        target = args.target
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)) if os.path.isfile(target) else target)
    failure: Optional[BaseException] = None
    kept: object = None
    with around, contextlib.redirect_stdout(script_stdout):
        try:
            if args.module:
                kept = runpy.run_module(args.target, run_name="__main__", alter_sys=True)
            else:
                kept = runpy.run_path(args.target, run_name="__main__")
        except BaseException as exc:   # reported after, as python would
            failure = exc
    return failure, kept


def record_timeline(args: argparse.Namespace) -> int:
    """Run a script as ``run`` does, recording every collection: the
    picture (SVG, or a page with --html) to -o, the table on stderr."""
    from ._timeline import timeline

    if not _can_run(args):
        return 2
    to_stdout = args.output == "-"
    if to_stdout and args.json:
        print("memprobe timeline: -o - and --json both want stdout; choose one", file=sys.stderr)
        return 2
    output = args.output
    recording = timeline(lengths=args.lengths)
    # When stdout carries the picture or the document, the script's own goes to stderr.
    failure, kept = _execute(args, recording, sys.stderr if args.json or to_stdout else sys.stdout)
    del kept
    exit_code = _exit_status(failure)
    result = recording.result
    assert result is not None
    picture = result.to_html() if args.html else result.to_svg()
    sys.stdout.flush()
    if to_stdout:
        print(picture)
    else:
        with open(output, "w", encoding="utf-8") as out:
            out.write(picture)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    say(f"{result}" + ("" if to_stdout else f"\nmemprobe timeline: wrote {output}"), sys.stderr)
    return exit_code


def _exit_status(failure: Optional[BaseException]) -> int:
    """What ``python script.py`` exits with, printing what it prints."""
    if failure is None:
        return 0
    if isinstance(failure, SystemExit):
        if failure.code is None or isinstance(failure.code, int):
            return failure.code or 0
        print(failure.code, file=sys.stderr)
        return 1
    tb = failure.__traceback__
    # Drop memprobe's and runpy's frames: the traceback starts in the script.
    while tb is not None and (tb.tb_frame.f_globals is globals()
                              or tb.tb_frame.f_globals.get("__name__") == "runpy"):
        tb = tb.tb_next
    traceback.print_exception(type(failure), failure, tb)
    return 130 if isinstance(failure, KeyboardInterrupt) else 1


def _print_run(args: argparse.Namespace, measurement: measure, resident: Tuple[ResidentMemory, ResidentMemory],
               exit_code: int) -> None:
    if args.json:
        text = json.dumps(command_document("run", {
            "target": args.target, "module": args.module, "argv": sys.argv, "exit_code": exit_code,
            "diff": measurement.diff.to_dict(),
            "rss": {"before": resident[0].to_dict(), "after": resident[1].to_dict()}}))
    else:
        blocks = ""
        if args.blocks and measurement.after is not None and measurement.after.blocks_unavailable:
            blocks = f"  objects in the allocator's blocks: not counted: {measurement.after.blocks_unavailable}\n"
        text = (f"memprobe run {args.target}: exit code {exit_code}\n{measurement.diff}\n{blocks}"
                f"{resident_change_text(*resident)}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    elif args.json:
        sys.stdout.flush()
        print(text)
    else:
        sys.stdout.flush()
        say(text, sys.stderr)


def say(text: object, stream: Optional[TextIO] = None) -> None:
    """Print text for a person (to stdout unless told): every line fitted
    to the terminal (COLUMNS, else its width, else 80 columns)."""
    from ._render import fit_text, terminal_width

    print(fit_text(str(text), terminal_width()), file=stream or sys.stdout)


def explain_expression(args: argparse.Namespace) -> int:
    from ._explain import explain

    try:
        value = eval(args.expression, {"__builtins__": builtins, "__name__": "__main__", "sys": sys})
    except Exception as exc:
        print(f"memprobe explain: cannot evaluate {args.expression!r}: {exc!r}", file=sys.stderr)
        return 2
    explained = explain(value)
    if args.json:
        print(json.dumps(explained.to_dict(), indent=2))
    else:
        say(explained)
    return 0


def show_lessons(args: argparse.Namespace) -> int:
    from .lessons import LESSONS

    names = args.names or list(LESSONS)
    unknown = [n for n in names if n not in LESSONS]
    if unknown:
        print(f"memprobe lessons: no lesson {', '.join(unknown)}; there are: {', '.join(LESSONS)}",
              file=sys.stderr)
        return 2
    if args.json:
        from ._serialize import plain

        print(json.dumps(command_document("lessons", {"lessons": [plain(LESSONS[name]()) for name in names]}),
                         indent=2))
        return 0
    for index, name in enumerate(names):
        say(("\n" if index else "") + str(LESSONS[name]()))
    return 0


def draw_map(args: argparse.Namespace) -> int:
    from ._pymalloc import arenas

    live = arenas()
    if args.json:
        from ._serialize import arena_map_document

        print(json.dumps(arena_map_document(live), indent=1))
        return 0
    svg = live.to_svg(colour=args.colour)
    if args.output == "-":
        print(svg)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(svg + "\n")
        print(f"memprobe map: wrote {os.path.abspath(args.output)}")
    return 0


def where_memory_goes(args: argparse.Namespace) -> int:
    """The answer to "where did my memory go": the resident memory by who
    holds it, pymalloc's fragmentation, the types holding the most bytes
    (tracked or not) and what pins the sparsest arenas (the block census,
    3.12+), and the most common tracked types."""
    document, text = where_reading()
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        say(text)
    return 0


def where_reading() -> Tuple[Dict[str, Any], str]:
    """where's document and its text, of one reading."""
    from ._gc import census
    from ._pymalloc import block_census, fragmentation
    from ._snapshot import attempt

    resident = rss()
    fragmented, why = attempt(fragmentation)
    blocks, blocks_why = attempt(block_census)
    top = census(top=10)
    document = command_document("where", {
        "rss": resident.to_dict(), "fragmentation": None if fragmented is None else fragmented.to_dict(),
        "fragmentation_unavailable": why, "blocks": None if blocks is None else blocks.to_dict(),
        "blocks_unavailable": blocks_why,
        "top_types": [[name, n] for name, n in ((_type_name(t), n) for t, n in top.by_type.items())]})
    text = "\n\n".join([
        str(resident),
        str(fragmented) if fragmented is not None else f"pymalloc's arenas: unavailable: {why}",
        str(blocks) if blocks is not None else f"blocks by type (tracked or not): unavailable: {blocks_why}",
        "most common tracked objects, by count:\n"
        + "\n".join(f"  {n:>12,}  {_type_name(t)}" for t, n in top.by_type.items())])
    return document, text


def _type_name(t: type) -> str:
    from ._serialize import type_name

    return type_name(t)


def compare_pyperf(args: argparse.Namespace) -> int:
    """The numbers ``pyperf --hook memprobe`` wrote into two result files."""
    from ._render import pyperf_compare_text
    from .pyperf_hook import read_results

    try:
        results = [read_results(path) for path in args.files]
    except (OSError, ValueError) as exc:
        print(f"memprobe pyperf-compare: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(command_document("pyperf-compare", dict(zip(("a", "b"), results))), indent=1))
    else:
        say(pyperf_compare_text(args.files, results))
    return 0


def print_schema(args: argparse.Namespace) -> int:
    from ._serialize import json_schema

    print(json.dumps(json_schema(), indent=1))
    return 0


def show_report(args: argparse.Namespace) -> int:
    from ._render import report_text
    from ._report import report, use_colour

    if args.json:
        print(json.dumps(report().to_dict(), indent=2))
    else:
        say(report_text(report(), use_colour(sys.stdout)))
    return 0


def seconds(text: str) -> float:
    """--watch's interval, --timeout: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"the interval must be a positive number of seconds, not {text}")
    return value


def process_id(text: str) -> int:
    """attach's PID: a positive int."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a process id: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"a process id is positive, not {value}")
    return value


def attach_process(args: argparse.Namespace) -> int:
    """attach PID: the target's collector; --watch redraws it until the
    target exits."""
    if args.census and args.no_lengths:
        print("memprobe attach: --census walks the lists, which --no-lengths does not", file=sys.stderr)
        return 2
    if args.inject:
        return _inject_once(args)
    try:
        return _attach_readings(args)
    except KeyboardInterrupt:       # how --watch is ended
        return 130
    except ValueError as exc:       # the reader's own pid
        print(f"memprobe attach: {exc}", file=sys.stderr)
        return 2


def _inject_once(args: argparse.Namespace) -> int:
    """attach PID --inject: memprobe's report and where, taken inside the
    target (3.14+)."""
    from ._inject import inject

    others = [flag for flag, on in (("--stop", args.stop), ("--census", args.census),
                                    ("--no-lengths", args.no_lengths), ("--watch", args.watch is not None)) if on]
    if others:
        print(f"memprobe attach: --inject runs memprobe inside the target once; {', '.join(others)} "
              "read it from outside", file=sys.stderr)
        return 2
    try:
        injected = inject(args.pid, timeout=args.timeout)
    except ValueError as exc:
        print(f"memprobe attach: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(command_document("inject", {"pid": injected.pid, "version": injected.version,
                                                     "report": injected.report, "where": injected.where}), indent=2))
    else:
        say(f"memprobe: process {injected.pid}, CPython {injected.version}, as memprobe saw it inside\n\n"
            + str(injected))
    return 0


def _attach_readings(args: argparse.Namespace) -> int:
    from ._attach import attach, gone
    from ._types import AttachError

    readings = 0
    while True:
        try:
            remote = attach(args.pid, lengths=not args.no_lengths, stop=args.stop, census=args.census)
        except AttachError:
            if readings and gone(args.pid):
                print(f"memprobe attach: process {args.pid} exited", file=sys.stderr)
                return 0
            raise
        readings += 1
        if args.json:
            print(json.dumps(remote.to_dict()), flush=True)
        else:
            if args.watch is not None and sys.stdout.isatty():
                print("\033[H\033[2J", end="")      # redrawn in place, as top does
            say(str(remote))
        if args.watch is None:
            return 0
        deadline = time.monotonic() + args.watch
        while time.monotonic() < deadline:
            if gone(args.pid):
                print(f"memprobe attach: process {args.pid} exited", file=sys.stderr)
                return 0
            time.sleep(min(0.1, args.watch))
        if not args.json and not sys.stdout.isatty():
            print(flush=True)


def build_parser(prog: str = "python -m memprobe") -> argparse.ArgumentParser:
    from . import __version__
    from ._interpreter import describe

    parser = argparse.ArgumentParser(prog=prog, description="Memory facts of the live CPython.")
    parser.add_argument("--version", action="version", version=f"memprobe {__version__} on {describe()}")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    commands = parser.add_subparsers(dest="command")
    parser.set_defaults(func=show_report, command="report")
    run = commands.add_parser("run", help="run a script (a directory, a zipapp, or -m a module) and print "
                              "the allocator diff of the run on stderr")
    run.add_argument("--json", action="store_true",
                     help="the diff as JSON: to -o FILE, else to stdout (the script's stdout then goes to stderr)")
    run.add_argument("--collect", action="store_true", help="gc.collect() before each snapshot")
    run.add_argument("--blocks", action="store_true",
                     help="count pymalloc's blocks by type too, so strs and ints show (3.12+)")
    run.add_argument("-o", "--output", help="write the diff to this file")
    run.add_argument("-m", dest="module", action="store_true", help="run a module, as python -m does")
    run.add_argument("target", metavar="script")
    run.add_argument("args", nargs=argparse.REMAINDER)
    run.set_defaults(func=run_script)
    explain = commands.add_parser("explain", help="explain one object: python -m memprobe explain '[1, 2]'")
    explain.add_argument("expression")
    explain.add_argument("--json", action="store_true", help="the facts and the story as JSON")
    explain.set_defaults(func=explain_expression)
    from .lessons import LESSONS

    lessons = commands.add_parser(
        "lessons", help="run the lessons (all, or those named)",
        description="Classic claims about CPython's memory, checked on this interpreter. Lessons: "
                    + ", ".join(LESSONS) + " (each also memprobe.lessons.NAME()).")
    lessons.add_argument("names", nargs="*", metavar="NAME", help="lessons to run (default: all)")
    lessons.add_argument("--json", action="store_true", help="the results as a JSON list")
    lessons.set_defaults(func=show_lessons)
    where = commands.add_parser("where", help="where did my memory go: resident memory by who holds it, "
                                "fragmentation, what pins the sparsest arenas")
    where.add_argument("--json", action="store_true", help="the same as JSON")
    where.set_defaults(func=where_memory_goes)
    recorder = commands.add_parser("timeline", help="run a script and draw every collection it caused, "
                                   "generation by generation (SVG, or an HTML page)")
    recorder.add_argument("-o", "--output", default="timeline.svg",
                          help="the picture's file (default timeline.svg; '-' for stdout)")
    recorder.add_argument("--html", action="store_true", help="write a page with the picture and the table")
    recorder.add_argument("--json", action="store_true",
                          help="also print the recording as JSON (the script's stdout then goes to stderr)")
    recorder.add_argument("--lengths", action="store_true",
                          help="also read each list's length before and after each collection (walks them)")
    recorder.add_argument("-m", dest="module", action="store_true", help="run a module, as python -m does")
    recorder.add_argument("target", metavar="script")
    recorder.add_argument("args", nargs=argparse.REMAINDER)
    recorder.set_defaults(func=record_timeline)
    compare = commands.add_parser("pyperf-compare", help="the numbers pyperf --hook memprobe wrote into two "
                                  "result files, side by side with ratios")
    compare.add_argument("files", nargs=2, metavar="FILE.json")
    compare.add_argument("--json", action="store_true", help="the same as JSON")
    compare.set_defaults(func=compare_pyperf)
    schema = commands.add_parser("schema", help="print the JSON Schema of every --json document")
    schema.add_argument("--json", action="store_true", help="(it is JSON already)")
    schema.set_defaults(func=print_schema)
    attach = commands.add_parser("attach", help="read another running Python's collector and pymalloc from outside "
                                 "(Linux, same CPython build): no code runs in it")
    attach.add_argument("pid", type=process_id, help="the process to read")
    attach.add_argument("--json", action="store_true", help="print the reading as JSON (one line per reading)")
    attach.add_argument("--stop", action="store_true",
                        help="pause the target (SIGSTOP) for an exact reading of one moment; always resumed")
    attach.add_argument("--no-lengths", action="store_true",
                        help="do not walk the lists (one read per object): counts and thresholds only")
    attach.add_argument("--census", action="store_true",
                        help="count the walked objects by type name (with --stop, or a stopped target)")
    attach.add_argument("--inject", action="store_true",
                        help="run memprobe inside the target (3.14+, sys.remote_exec) and print its report and "
                             "where reading; the target needs memprobe installed")
    attach.add_argument("--timeout", type=seconds, default=30.0, metavar="SECONDS",
                        help="with --inject: how long to wait for the target to reach a safe point (default 30)")
    attach.add_argument("--watch", type=seconds, metavar="SECONDS",
                        help="read again every SECONDS until the target exits")
    attach.set_defaults(func=attach_process)
    arena_map = commands.add_parser("map", help="draw pymalloc's arenas as SVG (3.12+)")
    arena_map.add_argument("-o", "--output", default="arenas.svg", help="SVG file to write ('-' for stdout)")
    arena_map.add_argument("--json", action="store_true", help="the arenas and their pools as JSON, not a picture")
    arena_map.add_argument("--colour", "--color", choices=("fill", "type", "size"), default="fill",
                           help="colour each pool by how full it is, by the type most of its objects have, "
                                "or by its size class")
    arena_map.set_defaults(func=draw_map)
    return parser


def _prog() -> str:
    """The program as invoked: the console script's name, or python -m."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m memprobe" if invoked in ("", "__main__.py", "-m", "-c") else invoked


def _unwritable(path: Optional[str]) -> Optional[str]:
    """Why an output file cannot be written there, or None (checked before
    anything runs)."""
    if path is None or path == "-":
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{path} is a directory"
    if not os.path.isdir(folder):
        return f"no directory {folder}"
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return f"{path} cannot be written (permission denied)"
    return None


# The commands that print JSON with --json.
JSON_COMMANDS = frozenset({"attach", "report", "run", "where", "lessons", "explain", "timeline", "map", "schema",
                           "pyperf-compare"})

# A shell's exit status for a program its reader stopped reading (SIGPIPE).
STOPPED_READING = 128 + 13


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser(_prog())
    arguments = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments)
    # `--json` before the command means the same as after it (argparse lets
    # the command's own default overwrite it).
    if args.command in arguments and "--json" in arguments[:arguments.index(args.command)]:
        if args.command not in JSON_COMMANDS:
            parser.error(f"{args.command} has no --json (these have: {', '.join(sorted(JSON_COMMANDS))})")
        args.json = True
    why = _unwritable(getattr(args, "output", None))
    if why is not None:
        print(f"memprobe {args.command}: -o: {why}", file=sys.stderr)
        return 2
    if getattr(args, "output", None) not in (None, "-"):
        args.output = os.path.abspath(args.output)     # where it was meant, even if a script changes directory
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except MemprobeError as exc:
        print(f"memprobe {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `... | head -1`: the reader stopped; end quietly as Unix tools do.
        # Later flushes of stdout go to /dev/null, not to a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return STOPPED_READING
    return code


if __name__ == "__main__":
    sys.exit(main())
