"""memprobe.timeline(): every collection a block of code ran, from
gc.callbacks, as numbers and as a picture; python -m memprobe timeline
does the same for a script."""
import gc
import json
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
