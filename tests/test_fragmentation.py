"""fragmentation(): how much of what pymalloc holds is live blocks, arena by
arena, compared with pymalloc() and arenas() and checked on the classic
case of a heap of floats mostly freed."""
import gc
import sys

import pytest

import memprobe
from _support import PYMALLOC_SERVING, run_memprobe

pytestmark = [
    pytest.mark.skipif(not PYMALLOC_SERVING, reason="needs pymalloc"),
    pytest.mark.skipif(sys.version_info < (3, 12), reason="arenas are readable from 3.12"),
]

MiB = 2**20


def test_the_parts_add_up_to_the_arenas_and_agree_with_pymalloc():
    f = memprobe.fragmentation()
    c = memprobe.interpreter().pymalloc
    assert f.arena_bytes == f.arenas * c.arena_size
    assert f.live_bytes + f.free_block_bytes + f.empty_pool_bytes + f.overhead_bytes == f.arena_bytes
    assert f.overhead_bytes >= 0
    assert sum(b.arenas for b in f.occupancy) == f.arenas
    assert sum(b.live_bytes for b in f.occupancy) == f.live_bytes
    # The same arenas as pymalloc() sees (read a moment apart: a few blocks may move).
    p = memprobe.pymalloc()
    assert f.arenas == p.arenas_current
    assert abs(f.live_bytes - p.bytes_in_allocated_blocks) <= 64 * 1024
    fills = [a.live_bytes for a in f.sparsest]
    assert fills == sorted(fills) and len(f.sparsest) == min(5, f.arenas)


def test_floats_mostly_freed_leave_arenas_held_by_a_few_blocks():
    """The textbook case: 3,000,000 floats, one in 600 kept.  Every pool
    keeps a float or so, so pymalloc can return almost nothing."""
    gc.collect()
    floats = [float(i) for i in range(3_000_000)]
    kept = floats[::600]
    del floats
    gc.collect()
    f = memprobe.fragmentation()
    sparse = f.occupancy[0]                     # the arenas at most 1 % live
    assert f.arena_bytes >= 90 * MiB
    assert sparse.arena_bytes >= 85 * MiB and sparse.live_bytes < MiB
    assert f.returnable_bytes == sparse.arena_bytes
    assert f.sparsest[0].live_blocks < 200
    assert f.verdict.startswith("Fragmented: pymalloc holds")
    assert "a few long-lived objects" in f.verdict
    assert "Fragmented" in str(f)
    del kept
    gc.collect()
    after = memprobe.fragmentation()
    assert after.arena_bytes < f.arena_bytes   # freed: the arenas went back


def test_the_report_names_the_situation():
    verdict = memprobe.fragmentation().verdict
    assert verdict.split(":")[0] in ("Fragmented", "Partly fragmented", "Mostly live")
    out = run_memprobe().stdout
    assert any(line.strip().startswith(verdict.split(":")[0] + ":") for line in out.splitlines()), out


@pytest.mark.parametrize("bad,error", [(-1, ValueError), ("3", TypeError), (True, TypeError)])
def test_bad_arguments_are_refused(bad, error):
    with pytest.raises(error):
        memprobe.fragmentation(bad)
