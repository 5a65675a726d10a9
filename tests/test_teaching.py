"""The teaching side: the live report, explain(), the lessons and the arena map.

Each lesson's verdict is checked against what is true of the running
version, stated here independently of the lesson's own code.
"""
import functools
import gc
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

import pytest

import memprobe
from memprobe import _memprobe
from memprobe._pymalloc import arena_map_from_state, snapshot_from_state
from memprobe._render import report_text
from memprobe._report import use_colour
from memprobe._interpreter import allocator
from memprobe.lessons import LESSONS, LessonResult
from _support import DIRECT, INFO, PYMALLOC_SERVING, VERSION, run_code, run_memprobe

# `python -m memprobe ...` on the build's default allocator, untraced, unless a test says otherwise.
run = functools.partial(run_memprobe, pythonmalloc=None)

ALLOCATOR = allocator()

# What is true of each claim, by version and build (see the lessons' docs).
TRUE_HERE = {
    "refcount": VERSION < (3, 14),
    "cycle": True,
    "promotion": INFO.gc_regime == "generational",
    "thresholds": VERSION < (3, 13),
    "freeze": True,
    "arenas": VERSION < (3, 10),
    "interning": VERSION >= (3, 12),
    "slots": True,
    "weakref": True,
    # Its claim is pymalloc's; a debug layer keeps the report printed.
    "tracemalloc": not ALLOCATOR.debug and ALLOCATOR.family == "pymalloc",
}


def test_every_lesson_has_a_stated_truth():
    assert set(TRUE_HERE) == set(LESSONS)


@pytest.mark.parametrize("name", list(LESSONS))
def test_lesson_verdict_is_correct_for_this_version(name):
    result = LESSONS[name]()
    assert isinstance(result, LessonResult)
    assert result.name == name
    assert result.claim and result.expected and result.measured and result.why
    assert result.holds == TRUE_HERE[name], str(result)
    assert ("DOES NOT HOLD" in str(result)) == (not result.holds)


def test_lessons_command_runs_one_or_all_and_rejects_unknown_names():
    one = run("lessons", "weakref")
    assert one.returncode == 0 and one.stdout.startswith("[weakref]")
    everything = run("lessons")
    assert everything.returncode == 0
    assert re.findall(r"^\[([a-z]+)\] ", everything.stdout, re.M) == list(LESSONS)
    bad = run("lessons", "nope")
    assert bad.returncode == 2 and "no lesson nope" in bad.stderr


# ---- the report ----------------------------------------------------------------------------

MODES = ["pymalloc", "malloc", "debug", "pymalloc_debug", "malloc_debug"] + (["mimalloc"] if VERSION >= (3, 13) else [])
if INFO.free_threaded:   # pymalloc modes do not exist there
    MODES = ["mimalloc", "mimalloc_debug"]


@pytest.mark.parametrize("mode", MODES + ["tracemalloc"])
def test_report_and_json_run_under_every_allocator_mode(mode):
    kwargs = {"xoptions": ["tracemalloc"]} if mode == "tracemalloc" else {"pythonmalloc": mode}
    kwargs["env_extra"] = {"COLUMNS": "80"}
    text = run(**kwargs)
    assert text.returncode == 0, text.stderr
    assert "Traceback" not in text.stdout + text.stderr
    assert text.stdout.startswith("memprobe: CPython")
    assert "pymalloc" in text.stdout and "garbage collector" in text.stdout
    assert all(len(line) <= 80 for line in text.stdout.splitlines()), max(text.stdout.splitlines(), key=len)
    assert "\033[" not in text.stdout  # not a terminal: no colour
    data = run("--json", **kwargs)
    assert data.returncode == 0
    parsed = json.loads(data.stdout)
    on_mimalloc = mode.startswith("mimalloc") or (mode == "tracemalloc" and INFO.free_threaded)
    if mode.startswith("mimalloc"):
        assert "heap     size  pages" in text.stdout
        assert sum(row[3] for row in parsed["mimalloc"]["size_classes"]) > 0  # blocks in use
    if mode in ("malloc", "malloc_debug") or on_mimalloc:
        assert "pymalloc is not in use" in text.stdout
        assert parsed["pymalloc"] is None
        assert parsed["pymalloc_unavailable"].startswith("pymalloc is not in use")
    elif mode != "tracemalloc" or DIRECT or INFO.debug_build:
        assert "class  size  pools" in text.stdout
        assert parsed["pymalloc"]["arenas_current"] > 0
    assert parsed["interpreter"]["version"] == list(sys.version_info[:3])
    assert len(parsed["gc"]["generations"]) == 3


def test_report_is_public_and_is_what_the_command_prints():
    """memprobe.report() returns the Report the command prints: its str is
    the text (without colour), to_json() what --json prints."""
    data = memprobe.report()
    assert isinstance(data, memprobe.Report)
    assert str(data).splitlines()[0] == run().stdout.splitlines()[0]
    assert json.loads(data.to_json())["kind"] == "report"


def test_report_numbers_are_the_probes_numbers():
    data = memprobe.report()
    assert data.gc is not None
    assert data.gc.generations[0].threshold == gc.get_threshold()[0]
    text = report_text(data)
    assert f"GC regime {INFO.gc_regime}" in text


class FakeTerminal:
    def isatty(self):
        return True


class FakePipe:
    def isatty(self):
        return False


@pytest.mark.parametrize("env, terminal, pipe", [
    ({}, True, False),
    ({"NO_COLOR": "1"}, False, False),
    ({"NO_COLOR": ""}, True, False),              # set but empty: not a request
    ({"FORCE_COLOR": "1"}, True, True),
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
    ({"TERM": "dumb"}, False, False),
    ({"TERM": "dumb", "FORCE_COLOR": "1"}, True, True),
])
def test_colour_follows_no_color_force_color_and_term(monkeypatch, env, terminal, pipe):
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert use_colour(FakeTerminal()) is terminal and use_colour(FakePipe()) is pipe


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert use_colour(FakeTerminal())
    assert not use_colour(sys.__stdout__) or sys.__stdout__.isatty()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(FakeTerminal())
    assert "\033[" in report_text(memprobe.report(), colour=True)
    assert "\033[" not in report_text(memprobe.report(), colour=False)


# ---- the REPL and notebooks -----------------------------------------------------------------

RESULTS = {
    "pymalloc": memprobe.pymalloc, "mimalloc": memprobe.mimalloc, "gc_state": memprobe.gc_state,
    "census": memprobe.census, "snapshot": memprobe.snapshot, "fragmentation": memprobe.fragmentation,
    "rss": memprobe.rss, "block_census": memprobe.block_census, "report": memprobe.report,
    "explain": functools.partial(memprobe.explain, [1, 2]), "arenas": memprobe.arenas,
    "diff": lambda: memprobe.snapshot() - memprobe.snapshot(),
}


@pytest.mark.parametrize("probe", list(RESULTS))
def test_every_result_has_a_short_repr_that_names_it(probe):
    """In the REPL a result is one line: its type and what it holds (the
    whole table is print()'s); pymalloc() alone was 3,395 characters."""
    try:
        result = RESULTS[probe]()
    except memprobe.MemprobeError as exc:
        pytest.skip(f"{probe}() is not available here: {exc}")
    text = repr(result)
    assert "\n" not in text and len(text) <= 160, text
    assert text.startswith(f"<{type(result).__name__} ")
    assert len(str(result)) > len(text) or probe == "arenas"


def test_type_counts_show_the_five_most_common_and_how_many_more():
    counts = memprobe.census().by_type
    text = repr(counts)
    assert text.count(": ") == min(5, len(counts))
    if len(counts) > 5:
        assert f"... {len(counts) - 5:,} more" in text


# ---- explain ----------------------------------------------------------------------------------

def test_explain_a_young_list_and_then_an_old_one():
    gc.disable()
    try:
        x = [1, 2, 3]
        if INFO.free_threaded:
            assert "tracked by the collector (free-threaded builds have no generations)" in str(memprobe.explain(x))
            return
        assert "generation 0" in str(memprobe.explain(x))
        gc.collect()
        assert "generation 2" in str(memprobe.explain(x))
    finally:
        gc.enable()


def test_explain_immortality():
    text = str(memprobe.explain(None))
    if VERSION >= (3, 12):
        assert "immortal" in text
    else:
        assert "Immortality does not exist before CPython 3.12" in text
    assert "immortal" not in memprobe.explain(object()).lines[1]


def test_explain_an_int_is_never_tracked():
    assert "never tracks" in str(memprobe.explain(10**30))


@pytest.mark.skipif(not (DIRECT and PYMALLOC_SERVING), reason="block facts need 3.12+ pymalloc")
def test_explain_names_the_size_class_and_block():
    obj = bytes(200)
    info = memprobe.block_info(obj)
    explained = memprobe.explain(obj)
    assert f"{info.block_size}-byte block (size class {info.size_class})" in str(explained)
    assert explained.block == info


def test_explain_command_evaluates_an_expression():
    proc = run("explain", "[1, 2]")
    assert proc.returncode == 0 and proc.stdout.startswith("A builtins.list object")
    bad = run("explain", "1 +")
    assert bad.returncode == 2 and "cannot evaluate" in bad.stderr


def test_explain_returns_the_facts_it_read_and_tells_them_when_printed():
    """Its str is the story; its repr is one short line for the REPL; its
    fields are the same facts refinfo(), gcinfo() and block_info() give,
    or None with the reason; it keeps no reference to the object."""
    obj = [1, 2, 3]
    explained = memprobe.explain(obj)
    assert str(explained) == "\n".join(explained.lines)
    assert explained.lines[0].startswith("A builtins.list object")
    assert explained.type_name == "builtins.list" and explained.address == id(obj)
    assert explained.getsizeof == sys.getsizeof(obj)
    assert explained.gcinfo == memprobe.gcinfo(obj)
    # obj's name here, and explain()'s argument while it read.
    assert explained.refinfo.count >= 2 and explained.refinfo.layout == memprobe.refinfo(obj).layout
    assert "\n" not in repr(explained) and len(repr(explained)) < 100
    assert explained._repr_html_().startswith("<div class=\"memprobe\"><p>A builtins.list")
    for fact, why in (("refinfo", explained.refinfo), ("gcinfo", explained.gcinfo), ("block_info", explained.block)):
        assert (why is None) == any(w.startswith(fact + ":") for w in explained.unavailable)
    assert gc.get_referents(explained) and obj not in gc.get_referents(explained)


def test_classes_without_a_module_or_with_control_characters_in_their_names_are_shown():
    """A class made by type() where no __name__ is set has no __module__; a
    name may hold escape codes.  explain, printing and the notebook view
    still work, and the HTML stays well-formed XML."""
    namespace = {}
    exec("T = type('T\\x1b[31m', (), {})", namespace)
    made = [namespace["T"]() for _ in range(5000)]
    assert str(memprobe.explain(made[0])).startswith("A ?.T")
    census = memprobe.census()
    assert "?.T" in str(census)
    ET.fromstring(census._repr_html_())
    proc = run("explain", "type('Q', (), {})()")
    assert proc.returncode == 0 and proc.stdout.startswith("A __main__.Q object")


def test_explain_command_writes_json():
    data = json.loads(run("explain", "--json", "[1, 2]").stdout)
    assert data["kind"] == "explanation" and data["type_name"] == "builtins.list"
    assert data["lines"][0].startswith("A builtins.list object")
    assert data["gcinfo"]["tracked"] is True
    before = json.loads(run("--json", "explain", "None").stdout)
    assert before["type_name"] == "builtins.NoneType"


# ---- the arena map ---------------------------------------------------------------------------

pytestmark_map = pytest.mark.skipif(not (DIRECT and PYMALLOC_SERVING),
                                    reason="arenas need 3.12+ pymalloc")


@pytestmark_map
def test_svg_has_one_cell_per_pool_and_legend_totals_match_the_snapshot():
    state, _ = _memprobe._pymalloc_with_report()
    arenas, snapshot = arena_map_from_state(state), snapshot_from_state(state)
    root = ET.fromstring(arenas.to_svg())
    ns = {"svg": "http://www.w3.org/2000/svg"}
    cells = root.findall(".//svg:rect[@class='pool']", ns)
    assert len(cells) == sum(a.total_pools for a in arenas)
    assert len(root.findall(".//svg:g[@class='arena']", ns)) == len(arenas) == snapshot.arenas_current
    legend = root.find(".//svg:text[@id='legend-totals']", ns)
    assert int(legend.get("data-arenas")) == snapshot.arenas_current
    assert int(legend.get("data-blocks")) == snapshot.blocks_in_use
    assert int(legend.get("data-pools")) - int(legend.get("data-used-pools")) == snapshot.unused_pools
    assert int(legend.get("data-used-pools")) == sum(c.pools for c in snapshot.size_classes)
    assert "CPython " + ".".join(map(str, sys.version_info[:3])) in root.find("svg:title", ns).text


FLOATS_AND_STRS = """
import memprobe, sys
floats = [i + 0.5 for i in range(200_000)]        # ~400 pools of floats
strs = [f"s{i:06}" for i in range(100_000)]        # ~300 pools of strs
svg = memprobe.arenas().to_svg(colour="type")
print(svg)
"""


@pytestmark_map
def test_the_map_coloured_by_type_names_the_types_filling_the_pools():
    """colour="type": each pool takes the colour of the type most of its
    objects have (the block census); the legend names the types holding
    the most pools, and each cell's tooltip says how many of them it holds."""
    root = ET.fromstring(run_code(FLOATS_AND_STRS, check=True).stdout)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    legend = [t.text for t in root.findall(".//svg:g[@class='legend']/svg:text", ns)]
    assert legend[:2] == ["free pool", "not carved yet"] and legend[-2] == "no object of a known type"
    ranked = [label.split(" (")[0] for label in legend[2:4]]
    assert set(ranked) == {"builtins.float", "builtins.str"}
    swatches = {label.split(" (")[0]: r.get("fill")
                for r, label in zip(root.findall(".//svg:g[@class='legend']/svg:rect", ns), legend)}
    tips = [(r.get("fill"), r.find("svg:title", ns).text) for r in root.findall(".//svg:rect[@class='pool']", ns)]
    float_cells = [tip for fill, tip in tips if fill == swatches["builtins.float"]]
    assert len(float_cells) >= 350 and all("builtins.float of" in tip for tip in float_cells)
    with pytest.raises(ValueError):
        memprobe.arenas().to_svg(colour="shape")


SVG_NS = {"svg": "http://www.w3.org/2000/svg"}


def _cells(svg):
    return [(r.get("fill"), r.find("svg:title", SVG_NS).text, r.get("data-changed"))
            for r in ET.fromstring(svg).findall(".//svg:rect[@class='pool']", SVG_NS)]


@pytestmark_map
def test_the_map_tells_free_pools_from_slots_not_carved_and_labels_arenas_by_place():
    arenas = memprobe.arenas()
    root = ET.fromstring(arenas.to_svg())
    rows = root.findall(".//svg:g[@class='arena']", SVG_NS)
    assert [int(r.get("data-index")) for r in rows] == list(range(len(arenas)))
    assert rows[0].find("svg:text", SVG_NS).text.startswith("#0 ")
    fills = {tip: fill for fill, tip, _ in _cells(arenas.to_svg())}
    free = sum(a.total_pools - a.used_pools for a in arenas)
    uncarved = sum(a.total_pools - len(a.pool_classes) for a in arenas)
    tips = [tip for _, tip, _ in _cells(arenas.to_svg())]
    assert tips.count("not carved into a pool yet") == uncarved
    assert tips.count("free pool") == free - uncarved
    if uncarved and free > uncarved:
        assert fills["free pool"] != fills["not carved into a pool yet"]
    if len({a.total_pools for a in arenas}) > 1:     # 63 and 64 pools: said why
        assert "lost to alignment" in arenas.to_svg()


def test_the_fill_scale_tells_nearly_full_from_full_and_has_the_bars_meaning():
    from memprobe._svg import FILL_SCALE, fill_colour

    assert fill_colour(0.9) != fill_colour(1.0)
    assert len({colour for _, colour, _ in FILL_SCALE}) == len(FILL_SCALE)
    assert fill_colour(0.05) == "#dc2626"          # red: fragmentation, as the text bars say


@pytestmark_map
def test_the_map_by_size_class_has_a_colour_a_class_and_a_legend_of_block_sizes():
    arenas = memprobe.arenas()
    svg = arenas.to_svg(colour="size")
    classes = {c for a in arenas for c in a.pool_classes if c != 255}
    by_class = {}
    for fill, tip, _ in _cells(svg):
        if tip.startswith("size class "):
            by_class.setdefault(int(tip.split()[2]), set()).add(fill)
    assert set(by_class) == classes and all(len(f) == 1 for f in by_class.values())
    assert len({f for fs in by_class.values() for f in fs}) == len(classes)
    legend = [t.text for t in ET.fromstring(svg).findall(".//svg:g[@class='legend']/svg:text", SVG_NS)]
    sizes = [f"{memprobe._interpreter.block_size(c)} B" for c in sorted(classes)]
    assert legend[2:-1] == sizes      # then the totals


@pytestmark_map
def test_a_map_against_an_earlier_one_outlines_the_pools_that_changed():
    before = memprobe.arenas()
    kept = [float(i) for i in range(20_000)]      # ~40 pools of 24-byte blocks, at least
    after = memprobe.arenas()
    changed = [tip for _, tip, mark in _cells(after.to_svg(before=before)) if mark]
    assert len(changed) >= 30 and all(tip.endswith("; changed") for tip in changed)
    assert not any(mark for _, _, mark in _cells(after.to_svg(before=after)))
    assert "pools that changed since the earlier map" in after.to_svg(before=before)
    with pytest.raises(TypeError):
        after.to_svg(before=[])
    del kept


@pytestmark_map
def test_map_command_writes_an_svg(tmp_path):
    out = tmp_path / "arenas.svg"
    proc = run("map", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    ET.parse(out)
    proc = run("map", "--colour", "type", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "no object of a known type" in out.read_text()


@pytest.mark.skipif(DIRECT, reason="before 3.12 only")
def test_map_command_explains_why_it_is_unavailable_before_312():
    proc = run("map", "-o", os.devnull)
    assert proc.returncode == 1 and "3.12" in proc.stderr and "Traceback" not in proc.stderr


def test_notebook_views():
    snap = memprobe.snapshot()
    assert snap._repr_html_().startswith('<div class="memprobe"><p><b>Snapshot of CPython')
    if DIRECT and PYMALLOC_SERVING:
        ET.fromstring(memprobe.arenas()._repr_svg_())


TABLES = {"pymalloc": ["class", "size", "pools", "in use", "free", "bytes in use", "fill"],
          "mimalloc": ["heap", "size", "pages", "in use", "free", "fill"],
          "gc_state": ["generation", "count", "threshold", "objects"],
          "census": ["type", "tracked objects"], "block_census": ["type", "blocks", "bytes"],
          "rss": ["part", "bytes"], "fragmentation": ["live fraction", "arenas"],
          "report": ["part", "bytes"], "snapshot": ["type", "tracked objects"]}


@pytest.mark.parametrize("probe", sorted(TABLES))
def test_each_result_is_a_small_html_table_in_a_notebook(probe):
    """A notebook shows the summary as a heading and the rows as a real
    table (well-formed, monospace, numbers right-aligned), at most 20 types
    a table; the text repr behind a saved notebook was 144 KB."""
    try:
        result = RESULTS[probe]()
    except memprobe.MemprobeError as exc:
        pytest.skip(f"{probe}() is not available here: {exc}")
    view = result._repr_html_()
    tree = ET.fromstring(view)          # well-formed: a notebook renders it as is
    assert tree.find("p/b").text == f"{type(result).__name__} {repr(result)[len(type(result).__name__) + 2:-1]}"
    headers = [th.text for th in tree.iter("th")]
    assert all(h in headers for h in TABLES[probe]), headers
    assert "monospace" in tree.find("table").get("style")
    assert len(view) < 20_000
    assert all(len(table.findall("tbody/tr")) <= 33 for table in tree.iter("table"))


def test_fill_bars_change_colour_with_fill():
    """Full pools waste nothing (green), half-full ones hold memory other
    sizes cannot use (yellow), nearly empty ones are fragmentation (red),
    in the terminal and in notebooks alike."""
    from memprobe._render import Style, _bar, fill_colour

    assert [fill_colour(used, 100 - used)[0] for used in (100, 80, 50, 30, 10, 0)] == ["32", "32", "33", "33", "31", "31"]
    assert len({fill_colour(used, 100 - used)[1] for used in (100, 50, 0)}) == 3
    assert "\033[31m" in _bar(1, 99, Style(True)) and "\033[32m" in _bar(99, 1, Style(True))


def test_an_explanation_is_a_paragraph_a_fact_in_a_notebook():
    explained = memprobe.explain([1, 2])
    tree = ET.fromstring(explained._repr_html_())
    assert [p.text for p in tree.iter("p")] == list(explained.lines)


def test_the_freeze_lesson_leaves_the_programs_collector_state_alone():
    """The lesson freezes and unfreezes a fresh interpreter, not this one:
    this program's frozen objects stay frozen, its young objects stay young."""
    gc.disable()
    try:
        gc.freeze()
        frozen_before = gc.get_freeze_count()
        young = [1, 2]
        before = memprobe.generation(young)
        LESSONS["freeze"]()
        assert gc.get_freeze_count() == frozen_before
        assert memprobe.generation(young) == before
    finally:
        gc.unfreeze()
        gc.enable()
