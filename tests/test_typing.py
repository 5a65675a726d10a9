"""The typed API: mypy --strict passes on the package and on a usage example,
and the real return values match their annotations."""
import dataclasses
import sys
import typing
from pathlib import Path

import pytest

import memprobe
from _support import run_python

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not (REPO / "src" / "memprobe").is_dir(), reason="needs the source tree")
def test_mypy_strict_passes_on_the_package_and_a_usage_example(tmp_path):
    pytest.importorskip("mypy")
    proc = run_python(
        "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
        "--no-incremental", str(REPO / "src" / "memprobe"), str(REPO / "tests" / "typing" / "usage.py"),
        env_extra={"MYPYPATH": str(REPO / "src")}, cwd=str(tmp_path), stderr_to_stdout=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout


def check_fields(value):
    hints = typing.get_type_hints(type(value))
    for field in dataclasses.fields(value):
        annotation = hints[field.name]
        actual = getattr(value, field.name)
        origin = typing.get_origin(annotation)
        if origin is typing.Union:
            allowed = tuple(typing.get_origin(a) or a for a in typing.get_args(annotation))
        else:
            allowed = (origin or annotation,)
        assert isinstance(actual, allowed), (field.name, annotation, actual)
        if dataclasses.is_dataclass(actual):
            check_fields(actual)


@pytest.mark.parametrize("obj", [None, object(), 10**20, "x"])
def test_refinfo_values_match_annotations(obj):
    check_fields(memprobe.refinfo(obj))


def test_interpreter_values_match_annotations():
    check_fields(memprobe.interpreter())


def test_gc_results_match_annotations():
    check_fields(memprobe.gcinfo([]))
    check_fields(memprobe.gc_state())
    for generation in memprobe.gc_state().generations:
        check_fields(generation)
    census = memprobe.census(top=3)
    check_fields(census)
    assert all(isinstance(k, type) and isinstance(v, int) for k, v in census.by_type.items())
    assert all(isinstance(g, memprobe.Generation) for g in census.by_generation)


def test_pymalloc_results_match_annotations():
    try:
        snapshot = memprobe.pymalloc()
    except memprobe.PymallocUnavailable:
        pytest.skip("pymalloc is not the allocator")
    check_fields(snapshot)
    for size_class in snapshot.size_classes:
        assert isinstance(size_class, memprobe.SizeClass)
        assert all(isinstance(v, int) for v in size_class)
    if sys.version_info >= (3, 12):
        check_fields(memprobe.block_info([]))
        for arena in memprobe.arenas()[:3]:
            check_fields(arena)
            assert all(isinstance(c, memprobe.ArenaSizeClass) for c in arena.size_classes)
