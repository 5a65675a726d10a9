"""The command line as a Unix tool: --version, the program named as
invoked, quiet ends when the reader stops reading, and output paths
checked before anything runs."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import memprobe
from _support import run_memprobe

SCRIPT = Path(sys.executable).parent / "memprobe"   # the console script, installed beside the interpreter


def test_version_names_the_release_and_the_interpreter():
    proc = run_memprobe("--version", check=True)
    assert proc.stdout.startswith(f"memprobe {memprobe.__version__} on CPython ")


def test_the_usage_line_names_the_program_as_invoked():
    assert run_memprobe("--help", check=True).stdout.startswith("usage: python -m memprobe ")
    if not SCRIPT.exists():
        pytest.skip("no console script beside this interpreter (not installed in a venv)")
    out = subprocess.run([str(SCRIPT), "--help"], stdout=subprocess.PIPE, text=True, check=True).stdout
    assert out.startswith("usage: memprobe ")


@pytest.mark.parametrize("args", [[], ["--json"], ["lessons"]], ids=["report", "json", "lessons"])
def test_a_reader_that_stops_reading_ends_it_quietly(args):
    """`python -m memprobe | head -1`: the pipe is closed before memprobe
    writes; it exits 141 (as a tool killed by SIGPIPE) with nothing on
    stderr, not a BrokenPipeError traceback."""
    read, write = os.pipe()
    os.close(read)                                 # nobody will read
    proc = subprocess.run([sys.executable, "-m", "memprobe", *args], stdout=write, stderr=subprocess.PIPE,
                          text=True, timeout=300)
    os.close(write)
    assert proc.returncode == 141 and proc.stderr == ""


@pytest.mark.parametrize("command", [["run", "-o"], ["map", "-o"]], ids=["run", "map"])
def test_an_output_path_that_cannot_be_written_stops_it_before_anything_runs(command, tmp_path):
    marker = tmp_path / "ran"
    script = tmp_path / "script.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    target = [str(script)] if command[0] == "run" else []
    proc = run_memprobe(*command, str(tmp_path / "missing" / "out.json"), *target)
    assert proc.returncode == 2 and not marker.exists()
    assert proc.stderr.count("\n") == 1 and "-o: no directory" in proc.stderr
    proc = run_memprobe(*command, str(tmp_path), *target)          # a directory
    assert proc.returncode == 2 and "is a directory" in proc.stderr and not marker.exists()


def test_json_before_the_command_means_the_same_as_after_it():
    import json

    lessons = json.loads(run_memprobe("--json", "lessons", "weakref", check=True).stdout)
    assert lessons["kind"] == "lessons"
    assert [lesson["name"] for lesson in lessons["lessons"]] == ["weakref"] and lessons["lessons"][0]["holds"]
    assert json.loads(run_memprobe("lessons", "--json", "weakref", check=True).stdout) == lessons
    assert "rss" in json.loads(run_memprobe("--json", "where", check=True).stdout)
    assert json.loads(run_memprobe("--json", "explain", "1", check=True).stdout)["kind"] == "explanation"

def test_every_command_has_json():
    """One convention across commands: each takes --json (the report, a
    run, where, lessons, explain, a timeline, the arena map, the schema)."""
    import argparse

    from memprobe.__main__ import JSON_COMMANDS, build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) | {"report"} == JSON_COMMANDS
    for name, sub in commands.choices.items():
        assert "--json" in sub.format_help(), name


def test_lessons_help_lists_the_lessons_and_each_is_importable_by_that_name():
    from memprobe import lessons

    text = run_memprobe("lessons", "--help", check=True).stdout
    for name, lesson in lessons.LESSONS.items():
        assert name in text
        assert getattr(lessons, name) is lesson


WIDE_COMMANDS = {"report": (), "lessons": ("lessons",), "explain": ("explain", "[1, 2]"), "where": ("where",)}


@pytest.mark.parametrize("columns", [40, 60, 100])
@pytest.mark.parametrize("command", sorted(WIDE_COMMANDS))
def test_every_line_fits_the_terminal_width_columns_says(command, columns):
    """COLUMNS (or the terminal's width) bounds every line: long lines are
    wrapped under their indentation, never overflow (lessons reached 184
    columns and explain 211)."""
    proc = run_memprobe(*WIDE_COMMANDS[command], env_extra={"COLUMNS": str(columns)}, check=True)
    widest = max(proc.stdout.splitlines(), key=len)
    assert len(widest) <= columns, widest
    assert "Traceback" not in proc.stderr


def test_the_run_diff_fits_the_terminal_width_too(tmp_path):
    script = tmp_path / "strs.py"
    script.write_text("kept = [str(i) * 20 for i in range(2000)]\n")
    proc = run_memprobe("run", str(script), env_extra={"COLUMNS": "50"}, check=True)
    # (A path longer than the line is cut across lines too.)
    assert proc.stderr.startswith("memprobe run") and max(map(len, proc.stderr.splitlines())) <= 50
