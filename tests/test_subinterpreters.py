"""Probes read only the calling interpreter's state (3.12+ subinterpreters).

memprobe loads into isolated subinterpreters (multi-phase init with a
per-interpreter GIL slot); inside one, the GC probes describe that
interpreter's own collector, not the main interpreter's.
"""
import textwrap

import pytest

from _support import FREE_THREADED, SUBINTERPRETERS, run_code, run_in_subinterpreter

pytestmark = pytest.mark.skipif(not SUBINTERPRETERS, reason="isolated subinterpreters are 3.12+")

INSIDE = textwrap.dedent(
    """
    import gc, sys, memprobe
    gc.disable()
    mine = [len(gc.get_objects(generation=g)) for g in range(3)]
    state = memprobe.gc_state()
    lengths = [g.length for g in state.generations]
    x = []
    young = memprobe.generation(x)
    census = memprobe.census(2)
    census_total = census.total + sum(census.memprobe_objects.values())   # memprobe's own, left out
    old_total = len(gc.get_objects(generation=2))
    refs = (memprobe.refcount(x), sys.getrefcount(x))
    mains = sum(n for t, n in census.by_type.items() if t.__name__ == "OnlyInMain")
    with open(OUT, "w") as out:
        out.write(repr((mine[1:], lengths[1:], int(young), census_total, old_total, refs, mains)))
    """
)


@pytest.mark.skipif(FREE_THREADED, reason="reads generation lists, which free-threaded builds lack")
def test_gc_probes_in_a_subinterpreter_read_its_own_collector(tmp_path):
    out = tmp_path / "result.txt"
    code = f"OUT = {str(out)!r}\n" + INSIDE
    # The main interpreter keeps 1,000 objects of a class of its own in its
    # oldest generation, and counts them again after the subinterpreter ran.
    main_before = ("import gc\nclass OnlyInMain: pass\nkeep = [OnlyInMain() for _ in range(1000)]\n"
                   "gc.collect()\n")
    main_after = ("\nimport memprobe\n"
                  "print(sum(n for t, n in memprobe.census(2).by_type.items() if t.__name__ == 'OnlyInMain'))\n")
    main_count = run_in_subinterpreter(code, main_before=main_before, main_after=main_after).stdout
    gc_lengths, probe_lengths, young, census_total, old_total, refs, mains = eval(out.read_text())
    assert probe_lengths == gc_lengths
    assert young == 0
    assert census_total == old_total
    assert refs[0] == refs[1]
    # The main interpreter holds its own, different lists: its 1,000
    # objects are in them, and in none of the subinterpreter's.
    assert int(main_count.split()[-1]) == 1000
    assert mains == 0


def test_memprobe_draws_and_records_a_timeline_in_a_subinterpreter():
    """Nothing memprobe imports breaks an isolated subinterpreter (3.12.1
    aborts in one that imports xml.sax), and a timeline, which routes
    Ctrl-C only where signals can be handled, records there."""
    code = "import gc, memprobe\nwith memprobe.timeline() as t:\n    gc.collect()\n" \
           "assert len(t.result.collections) == 1\nt.result.to_svg()\n"
    run_in_subinterpreter(code)
