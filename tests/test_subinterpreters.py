"""Probes read only the calling interpreter's state (3.12+ subinterpreters).

memprobe loads into isolated subinterpreters (multi-phase init with a
per-interpreter GIL slot); inside one, the GC probes describe that
interpreter's own collector, not the main interpreter's.
"""
import subprocess
import sys
import textwrap

import pytest

import memprobe

pytestmark = pytest.mark.skipif(sys.version_info < (3, 12), reason="isolated subinterpreters are 3.12+")

RUN_IN_SUBINTERPRETER = textwrap.dedent(
    """
    import sys
    code = sys.argv[1]
    try:
        from concurrent import interpreters          # 3.14+
        interp = interpreters.create()
        interp.exec(code)
        interp.close()
    except ImportError:
        try:
            import _interpreters as low              # 3.13
        except ImportError:
            import _xxsubinterpreters as low         # 3.12
        iid = low.create()
        failure = low.run_string(iid, code) if hasattr(low, "run_string") else low.exec(iid, code)
        if failure is not None:
            raise SystemExit(f"subinterpreter failed: {failure}")
        low.destroy(iid)
    """
)

INSIDE = textwrap.dedent(
    """
    import gc, sys, memprobe
    gc.disable()
    mine = [len(gc.get_objects(generation=g)) for g in range(3)]
    state = memprobe.gc_state()
    lengths = [g.length for g in state.generations]
    x = []
    young = memprobe.generation(x)
    census_total = memprobe.census(2).total
    old_total = len(gc.get_objects(generation=2))
    refs = (memprobe.refcount(x), sys.getrefcount(x))
    with open(OUT, "w") as out:
        out.write(repr((mine[1:], lengths[1:], int(young), census_total, old_total, refs)))
    """
)


@pytest.mark.skipif(memprobe.interpreter().free_threaded, reason="reads generation lists, which free-threaded builds lack")
def test_gc_probes_in_a_subinterpreter_read_its_own_collector(tmp_path):
    out = tmp_path / "result.txt"
    code = f"OUT = {str(out)!r}\n" + INSIDE
    main_gen2 = subprocess.run(
        [sys.executable, "-c", "import gc, memprobe; gc.collect(); print(len(gc.get_objects(generation=2)))"],
        stdout=subprocess.PIPE, text=True, check=True,
    ).stdout
    proc = subprocess.run(
        [sys.executable, "-c", RUN_IN_SUBINTERPRETER + "\nimport memprobe\n", code],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout
    gc_lengths, probe_lengths, young, census_total, old_total, refs = eval(out.read_text())
    assert probe_lengths == gc_lengths
    assert young == 0
    assert census_total == old_total
    assert refs[0] == refs[1]
    # The main interpreter, with memprobe imported, holds its own, different lists.
    assert int(main_gen2) != old_total
