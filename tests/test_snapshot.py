"""snapshot(), diffs, measure() and `python -m memprobe run`.

Diffs are compared with what was allocated in between: N objects of one
size class show as +N blocks in that class and +N objects of that type, up
to NOISE_BLOCKS from the snapshots' own objects.
"""
import gc
import json
import sys
import textwrap

import pytest

import memprobe
from memprobe._snapshot import NOISE_BLOCKS
from _support import DEBUG_EXTRA, PYMALLOC_SERVING, run_memprobe

N = 20_000


class Thing:
    __slots__ = ("value",)


def thing_class_index():
    request = sys.getsizeof(Thing()) + DEBUG_EXTRA  # includes the GC head
    return (request + 15) // 16 - 1


@pytest.fixture(autouse=True)
def quiet_collector():
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    yield
    if was:
        gc.enable()


@pytest.mark.skipif(not PYMALLOC_SERVING, reason="needs pymalloc")
def test_diff_shows_n_new_blocks_and_objects_then_the_reverse():
    index = thing_class_index()
    before = memprobe.snapshot()
    things = [Thing() for _ in range(N)]
    during = memprobe.snapshot()
    grown = during - before
    blocks = {d.class_index: d.blocks_in_use for d in grown.size_classes}
    assert N <= blocks[index] <= N + NOISE_BLOCKS
    assert grown.objects_by_type[f"{__name__}.Thing"] == N
    assert N <= grown.allocated_blocks <= N + NOISE_BLOCKS
    assert sum(grown.objects_by_generation.values()) >= N
    del things
    after = memprobe.snapshot()
    shrunk = after - during
    blocks = {d.class_index: d.blocks_in_use for d in shrunk.size_classes}
    assert -N - NOISE_BLOCKS <= blocks[index] <= -N + NOISE_BLOCKS
    assert shrunk.objects_by_type[f"{__name__}.Thing"] == -N
    assert shrunk.arenas_highwater >= 0


def test_snapshot_round_trips_through_json():
    snap = memprobe.snapshot()
    data = json.loads(json.dumps(snap.to_dict()))
    assert memprobe.Snapshot.from_dict(data) == snap
    assert memprobe.Snapshot.from_json(snap.to_json()) == snap


def test_diff_round_trips_through_json():
    before = memprobe.snapshot()
    keep = [Thing() for _ in range(10)]
    diff = memprobe.snapshot() - before
    assert memprobe.SnapshotDiff.from_json(diff.to_json()) == diff
    assert memprobe.SnapshotDiff.from_dict(json.loads(json.dumps(diff.to_dict()))) == diff
    del keep


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '{"kind": "snapshot"}', '{"kind": "diff", "format": 1}', "null"])
def test_malformed_input_to_the_loaders_is_a_value_error(text):
    with pytest.raises(ValueError):
        memprobe.Snapshot.from_json(text)
    with pytest.raises(ValueError):
        memprobe.SnapshotDiff.from_json(text)


def test_diffing_snapshots_of_different_interpreters_is_refused():
    snap = memprobe.snapshot()
    data = snap.to_dict()
    data["interpreter"] = "CPython 3.8.0 release"
    data["hexversion"] = 0x030800F0
    other = memprobe.Snapshot.from_dict(data)
    with pytest.raises(memprobe.SnapshotMismatch, match="different interpreters"):
        snap - other
    assert issubclass(memprobe.SnapshotMismatch, ValueError)
    assert issubclass(memprobe.SnapshotMismatch, memprobe.MemprobeError)


def test_snapshots_print_as_tables():
    snap = memprobe.snapshot()
    text = str(snap)
    assert text.startswith("memprobe snapshot of CPython")
    assert "sys.getallocatedblocks()" in text
    diff = memprobe.snapshot() - snap
    assert str(diff).startswith("memprobe diff on CPython")


def test_measure_as_a_context_manager():
    with memprobe.measure() as m:
        things = [Thing() for _ in range(1000)]
    assert m.diff.objects_by_type[f"{__name__}.Thing"] == 1000
    assert m.before is not None and m.after is not None
    del things


def test_measure_as_a_decorator_measures_each_call():
    m = memprobe.measure(collect=True)
    kept = []

    @m
    def allocate(n):
        kept.extend(Thing() for _ in range(n))
        return n

    assert allocate(500) == 500
    assert m.diff.objects_by_type[f"{__name__}.Thing"] == 500
    allocate(7)
    assert m.diff.objects_by_type[f"{__name__}.Thing"] == 7


def test_measure_collect_hides_cyclic_garbage():
    def make_cycles():
        for _ in range(200):
            a = [Thing()]
            a.append(a)

    with memprobe.measure(collect=True) as m:
        make_cycles()
    assert m.diff.objects_by_type.get(f"{__name__}.Thing", 0) == 0
    with memprobe.measure(collect=False) as m:
        make_cycles()
    assert m.diff.objects_by_type[f"{__name__}.Thing"] == 200


def test_diff_is_unavailable_until_the_block_ends():
    m = memprobe.measure()
    with pytest.raises(memprobe.MemprobeError):
        m.diff


# ---- python -m memprobe run ---------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import sys
    class Thing:
        __slots__ = ("value",)
    keep = [Thing() for _ in range(int(sys.argv[1]))]
    print("argv=" + repr(sys.argv[1:]) + " name=" + __name__, file=sys.stderr)
    sys.exit(int(sys.argv[2]))
    """
)


@pytest.mark.parametrize("code", [0, 3])
def test_run_passes_argv_and_the_exit_code_through(tmp_path, code):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    proc = run_memprobe("run", str(script), "100", str(code), "--verbose")
    assert proc.returncode == code
    assert f"argv=['100', '{code}', '--verbose'] name=__main__" in proc.stderr
    assert f"memprobe run {script}: exit code {code}\n" in proc.stderr
    assert "__main__.Thing" in proc.stderr
    assert proc.stdout == ""   # the diff goes to stderr: stdout is the script's


def test_run_json_matches_an_in_process_diff_of_the_same_script(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    proc = run_memprobe("run", "--json", str(script), str(N), "0")
    assert proc.returncode == 0
    report = json.loads(proc.stdout)
    diff = memprobe.SnapshotDiff.from_dict(report["diff"])
    assert report["target"] == str(script) and report["module"] is False
    assert report["exit_code"] == 0 and report["argv"] == [str(script), str(N), "0"]
    assert diff.objects_by_type["__main__.Thing"] == N

    namespace = {"__name__": "in_process"}
    sys_argv = sys.argv
    sys.argv = [str(script), str(N), "0"]
    try:
        with memprobe.measure() as m:
            try:
                exec(compile(SCRIPT.replace("__main__", "x"), str(script), "exec"), namespace)
            except SystemExit:
                pass
    finally:
        sys.argv = sys_argv
    assert m.diff.objects_by_type["in_process.Thing"] == N
    assert abs(diff.allocated_blocks - m.diff.allocated_blocks) <= NOISE_BLOCKS
    if PYMALLOC_SERVING:
        index = thing_class_index()
        ours = {d.class_index: d.blocks_in_use for d in m.diff.size_classes}[index]
        theirs = {d.class_index: d.blocks_in_use for d in diff.size_classes}[index]
        assert abs(ours - theirs) <= NOISE_BLOCKS


def test_run_on_a_missing_script_exits_2_with_one_line(tmp_path):
    proc = run_memprobe("run", str(tmp_path / "missing.py"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "can't open file" in proc.stderr and "No such file or directory" in proc.stderr


def test_run_output_file(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    out = tmp_path / "diff.json"
    proc = run_memprobe("run", "--json", "-o", str(out), str(script), "5", "0")
    assert proc.returncode == 0 and proc.stdout == ""
    assert json.loads(out.read_text())["diff"]["objects_by_type"]["__main__.Thing"] == 5


# ---- run behaves like python script.py ----------------------------------------------------

def python_and_memprobe_run(tmp_path, source, *argv):
    """(python script.py, memprobe run script.py), each a CompletedProcess."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    from _support import run_python

    return run_python(str(script), *argv), run_memprobe("run", str(script), *argv)


def test_run_of_a_script_that_raises_exits_and_reports_like_python(tmp_path):
    plain, measured = python_and_memprobe_run(tmp_path, """
        def fail():
            raise ValueError("broken")
        print("before")
        fail()
    """)
    assert measured.returncode == plain.returncode == 1
    assert measured.stdout == plain.stdout == "before\n"
    assert measured.stderr.startswith(plain.stderr)   # the same traceback, then the diff
    assert "runpy" not in measured.stderr and "memprobe/__main__" not in measured.stderr
    assert "exit code 1" in measured.stderr


def test_run_of_sys_exit_with_a_message_exits_and_reports_like_python(tmp_path):
    plain, measured = python_and_memprobe_run(tmp_path, 'import sys; sys.exit("no input given")')
    assert measured.returncode == plain.returncode == 1
    assert measured.stderr.startswith(plain.stderr) and plain.stderr == "no input given\n"
    assert "exit code no input" not in measured.stderr


def test_run_json_on_stdout_parses_even_when_the_script_prints(tmp_path):
    script = tmp_path / "script.py"
    script.write_text('print("chatty script")')
    proc = run_memprobe("run", "--json", str(script))
    assert json.loads(proc.stdout)["exit_code"] == 0
    assert "chatty script" in proc.stderr   # sent aside so that stdout is only the JSON


def test_run_dash_m_runs_a_module_and_a_directory_runs_its_main(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text('import sys; print("main of", __name__, sys.argv[1:])')
    (package / "tool.py").write_text('import sys; print("tool as", __name__, sys.argv[1:])')
    from _support import run_python

    module = run_python("-m", "memprobe", "run", "-m", "pkg.tool", "x", cwd=str(tmp_path))
    assert module.returncode == 0 and module.stdout == "tool as __main__ ['x']\n", module.stderr
    directory = run_memprobe("run", str(package), "y")
    assert directory.returncode == 0 and directory.stdout == "main of __main__ ['y']\n", directory.stderr
