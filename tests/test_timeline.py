"""memprobe.timeline(): every collection a block of code ran, from
gc.callbacks, as numbers and as a picture; python -m memprobe timeline
does the same for a script."""
import contextlib
import gc
import json
import threading
import time
import xml.etree.ElementTree as ET

import pytest

import memprobe
from _support import FREE_THREADED, run_memprobe

SVG = "{http://www.w3.org/2000/svg}"


class Node:
    def __init__(self):
        self.me = self      # a cycle: only the collector frees it


def _record(lengths=False):
    before = gc.get_stats()
    with memprobe.timeline(lengths=lengths) as recording:
        for _ in range(20_000):
            Node()
        gc.collect(0)
        gc.collect(1)
        gc.collect()
    after = gc.get_stats()
    return recording.result, before, after


def test_it_sees_every_collection_gc_get_stats_counts():
    """Per generation, as many collections and as many objects collected
    as gc.get_stats() says ran in the block (automatic ones included)."""
    result, before, after = _record()
    by_generation = result.collections_by_generation()
    for g, (b, a) in enumerate(zip(before, after)):
        assert by_generation.get(g, 0) == a["collections"] - b["collections"], g
        assert sum(c.collected for c in result.collections if c.generation == g) == a["collected"] - b["collected"]
    assert result.collections[-1].generation == len(after) - 1      # the full collection came last
    assert sum(c.collected for c in result.collections) >= 20_000


def test_times_are_in_order_and_inside_the_block():
    result, _, _ = _record()
    starts = [c.start for c in result.collections]
    assert starts == sorted(starts) and starts[0] >= 0
    assert all(c.duration > 0 and c.start + c.duration <= result.elapsed for c in result.collections)
    assert all(len(c.counts_before) == len(c.counts_after) == 3 for c in result.collections)
    assert result.collections[0].lengths_after is None       # not asked for


@pytest.mark.skipif(FREE_THREADED, reason="free-threaded builds have no generation lists")
def test_with_lengths_it_shows_objects_moving_between_lists():
    result, _, _ = _record(lengths=True)
    full = result.collections[-1]
    assert full.lengths_before is not None and full.lengths_after is not None
    # After a full collection nothing young is left but what the callback made.
    assert full.lengths_after[0] <= 5 and full.lengths_after[1] == 0
    assert full.lengths_after[2] >= full.lengths_before[2] - full.collected


def test_it_leaves_gc_callbacks_as_it_found_them_and_records_nothing_after():
    callbacks = list(gc.callbacks)
    with memprobe.timeline() as recording:
        gc.collect()
    assert gc.callbacks == callbacks
    gc.collect()
    assert len(recording.result.collections) == 1
    with pytest.raises(TypeError):
        memprobe.timeline(lengths=1)


def test_the_picture_has_a_bar_per_collection_and_the_page_a_table():
    result, _, _ = _record()
    tree = ET.fromstring(result.to_svg())
    bars = [r for r in tree.iter(f"{SVG}rect") if r.get("class") == "collection"]
    assert len(bars) == len(result.collections)
    assert all(bar.find(f"{SVG}title").text.startswith("generation ") for bar in bars)
    page = result.to_html()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<table" in page
    assert repr(result).startswith(f"<Timeline {len(result.collections):,} collections")
    assert str(result).splitlines()[0].startswith(f"memprobe: {len(result.collections):,} collections")


def test_it_is_a_json_document_of_kind_timeline():
    result, _, _ = _record()
    data = json.loads(result.to_json())
    assert data["kind"] == "timeline" and len(data["collections"]) == len(result.collections)
    assert data["collections"][0][0] == result.collections[0].generation


def test_the_timeline_command_draws_a_scripts_collections(tmp_path):
    script = tmp_path / "cycles.py"
    script.write_text("import gc, sys\n"
                      "class N:\n    def __init__(self): self.me = self\n"
                      "for _ in range(5000): N()\n"
                      "gc.collect()\n"
                      "sys.exit(3)\n")
    picture = tmp_path / "t.svg"
    proc = run_memprobe("timeline", "-o", str(picture), str(script))
    assert proc.returncode == 3, proc.stderr                  # the script's own status
    assert "collections in" in proc.stderr and str(picture) in proc.stderr
    ET.parse(picture)
    page = tmp_path / "t.html"
    proc = run_memprobe("timeline", "--html", "--lengths", "-o", str(page), str(script))
    assert proc.returncode == 3 and "<table" in page.read_text()


def test_a_timeline_object_records_afresh_each_time_and_one_block_at_a_time():
    recording = memprobe.timeline()
    with recording:
        gc.collect()
    with recording:
        gc.collect()
        gc.collect()
    assert len(recording.result.collections) == 2
    with recording:
        with pytest.raises(RuntimeError):
            with recording:
                pass


def test_nested_timelines_share_the_timestamps_so_neither_times_the_others_work():
    """The inner one reads every list's length at each collection; the
    outer one's durations do not include that walk: both take the same
    start and stop timestamps."""
    with memprobe.timeline() as outer:
        with memprobe.timeline(lengths=True) as inner:
            for _ in range(3):
                gc.collect(0)
    assert len(inner.result.collections) == len(outer.result.collections) == 3
    assert [c.duration for c in outer.result.collections] == [c.duration for c in inner.result.collections]
    assert inner.result.collections[0].lengths_after is not None or FREE_THREADED
    assert outer.result.collections[0].lengths_after is None


def test_a_block_that_clears_gc_callbacks_still_gets_its_timeline_and_its_own_exception():
    with pytest.raises(KeyError):
        with memprobe.timeline() as recording:
            gc.collect()
            gc.callbacks.clear()
            raise KeyError("mine")
    assert len(recording.result.collections) == 1


def test_a_ctrl_c_during_a_collection_reaches_the_program_and_the_collection_is_kept(monkeypatch):
    """CPython discards what a gc callback raises: a SIGINT that arrives
    while the timeline reads the lists is raised again after the
    collection, in the program, and the collection is recorded."""
    import signal

    from memprobe import _timeline

    reads = _timeline._lengths

    pressed = []

    def interrupted():
        if not pressed:
            pressed.append(True)
            signal.raise_signal(signal.SIGINT)      # as if Ctrl-C were pressed now, once
        return reads()

    handler = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(_timeline, "_lengths", interrupted)
    slept = []
    with pytest.raises(KeyboardInterrupt):
        with memprobe.timeline(lengths=True) as recording:
            gc.collect()
            time.sleep(30)      # interrupted here
            slept.append(True)
    assert not slept
    assert len(recording.result.collections) == 1
    assert signal.getsignal(signal.SIGINT) is handler


@contextlib.contextmanager
def _also_in_gc_callbacks(callback):
    """callback in gc.callbacks, after the timeline's, while the block runs."""
    gc.callbacks.append(callback)
    try:
        yield
    finally:
        gc.callbacks.remove(callback)


def test_a_ctrl_c_in_a_gc_callback_after_the_timelines_reaches_the_program():
    """A callback registered after the timeline's runs after its stop
    callback: a SIGINT handled there would be raised in that callback and
    discarded, so it waits until the collection is over (found as a lost
    Ctrl-C in the 3.9 matrix row)."""
    import signal

    pressed = []

    def late(phase, info):
        if phase == "stop" and not pressed:
            pressed.append(True)
            signal.raise_signal(signal.SIGINT)

    slept = []
    with pytest.raises(KeyboardInterrupt):
        with memprobe.timeline(), _also_in_gc_callbacks(late):
            gc.collect()
            time.sleep(30)      # interrupted here
            slept.append(True)
    assert pressed and not slept


def test_a_ctrl_c_reaches_the_main_threads_recording_opened_after_a_worker_threads():
    """The handler is the main thread's whenever it records, even when a
    worker's recording opened first; and when the worker's ends last (it
    cannot give the handler back), later Ctrl-Cs are plain interrupts, not
    the handler calling itself (found by review: RecursionError)."""
    import os
    import signal

    def slow(phase, info):
        if phase == "start":
            time.sleep(0.3)

    for round in ("worker first", "worker last"):
        ready, done = threading.Event(), threading.Event()

        def worker():
            with memprobe.timeline():
                ready.set()
                done.wait()

        th = threading.Thread(target=worker)
        th.start()
        ready.wait()
        caught = []
        with memprobe.timeline():
            try:
                with _also_in_gc_callbacks(slow):
                    threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
                    gc.collect()
                    time.sleep(5)
            except KeyboardInterrupt:
                caught.append(round)
            if round == "worker first":
                done.set()
                th.join()
        if round == "worker last":
            done.set()
            th.join()
        assert caught == [round]
    with pytest.raises(KeyboardInterrupt):
        with memprobe.timeline():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)


def test_a_ctrl_c_deferred_by_the_blocks_last_collection_is_raised_by_the_block():
    """Not a moment later, in whatever runs after the block."""
    import signal

    def press(phase, info):
        if phase == "start":
            signal.raise_signal(signal.SIGINT)

    after = []
    with pytest.raises(KeyboardInterrupt):
        with memprobe.timeline(), _also_in_gc_callbacks(press):
            gc.collect()
    after.append(True)      # reached: the interrupt came from the block
    time.sleep(0.05)
    assert after == [True]


def test_the_timeline_command_writes_the_picture_to_stdout_with_dash(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import gc\nprint('mine')\ngc.collect()\n")
    proc = run_memprobe("timeline", "-o", "-", str(script), check=True)
    ET.fromstring(proc.stdout)          # only the picture: the script printed to stderr
    assert "mine" in proc.stderr
    both = run_memprobe("timeline", "-o", "-", "--json", str(script))
    assert both.returncode == 2 and "choose one" in both.stderr


def test_the_picture_goes_where_o_said_even_if_the_script_changes_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = tmp_path / "s.py"
    script.write_text(f"import gc, os\nos.chdir({str(elsewhere)!r})\ngc.collect()\n")
    run_memprobe("timeline", "-o", "t.svg", str(script), cwd=str(tmp_path), check=True)
    assert (tmp_path / "t.svg").exists() and not (elsewhere / "t.svg").exists()
