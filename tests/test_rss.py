"""rss(): the process's resident memory split by who holds it.  The total is
compared with /proc/self/statm, the parts with each other, and each verdict
is reproduced in a fresh process: live objects, pymalloc fragmentation, and
glibc holding freed memory."""
import json
import os
import sys

import pytest

import memprobe
from memprobe import _memprobe
from _support import CENSUS_ALLOCATOR, ON_MIMALLOC, PYMALLOC_SERVING, run_code

MiB = 2**20
GLIBC = _memprobe._mallinfo() is not None
ARENAS_READABLE = PYMALLOC_SERVING and sys.version_info >= (3, 12)


PROC = os.path.exists("/proc/self/statm")


@pytest.mark.skipif(not PROC, reason="the resident set size is read from /proc/self/statm")
def test_the_total_is_the_resident_set_size():
    r = memprobe.rss()
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    assert abs(r.total - resident) <= 2 * MiB


def test_the_parts_fit_inside_each_other():
    r = memprobe.rss()
    if ARENAS_READABLE:
        assert 0 < r.pymalloc_live <= r.pymalloc_arenas
        assert 0 < r.pymalloc_resident <= r.pymalloc_arenas
    elif PYMALLOC_SERVING:   # before 3.12: the arena table cannot be read, so neither can the rest
        assert r.pymalloc_arenas is None and any("pymalloc" in why for why in r.unknown)
        assert r.other is None
    if GLIBC:
        assert 0 <= r.malloc_free <= r.malloc_heap
        assert r.malloc_in_use >= r.malloc_mmapped >= 0
    if r.mimalloc_committed is not None:
        # mimalloc keeps freed segments resident without counting them as
        # committed: the rest cannot be told from them.
        assert r.other is None and any("mimalloc" in why for why in r.unknown)
    if r.other is not None:
        parts = (r.pymalloc_resident or 0) + (r.mimalloc_committed or 0) + r.malloc_heap + r.malloc_mmapped
        assert parts + r.other == r.total
    assert r.verdict and str(r).startswith("memprobe: resident memory")


def test_what_cannot_be_known_is_none_and_said():
    """Without glibc's mallinfo2 (musl, jemalloc...) the C allocator's parts
    and the rest are unknown, not zero."""
    real = _memprobe._mallinfo
    _memprobe._mallinfo = lambda: None
    try:
        r = memprobe.rss()
    finally:
        _memprobe._mallinfo = real
    assert (r.malloc_heap, r.malloc_in_use, r.malloc_free, r.other) == (None, None, None, None)
    assert any("mallinfo2" in why for why in r.unknown)


VERDICT = """
import gc, sys, memprobe
case = sys.argv[1]
if case == "live":
    held = [[] for _ in range(1_000_000)]
elif case == "fragmented":
    floats = [float(i) for i in range(3_000_000)]
    kept = floats[::600]
    del floats
elif case == "retained":
    blocks = [bytes(2000) for _ in range(100_000)]   # over 512 bytes: malloc's
    last = blocks[-1]                                  # keeps the heap's top in use
    del blocks
gc.collect()
print(memprobe.rss().verdict)
"""


@pytest.mark.skipif(not (PROC and ARENAS_READABLE), reason="needs /proc and pymalloc's arenas (3.12+)")
@pytest.mark.parametrize("case,verdict", [
    ("live", "Live Python objects"),
    ("fragmented", "pymalloc fragmentation"),
    pytest.param("retained", "C-allocator retention",
                 marks=pytest.mark.skipif(not GLIBC, reason="needs glibc's mallinfo2")),
])
def test_each_situation_gets_its_verdict(case, verdict):
    out = run_code(VERDICT, case, check=True).stdout
    assert out.startswith(verdict), out


def test_the_where_command_answers_in_text_and_json():
    import json

    from _support import run_memprobe

    text = run_memprobe("where", check=True).stdout
    assert text.startswith("memprobe: resident memory")
    assert "most common tracked objects" in text
    assert ("where pymalloc's arenas go" in text) == ARENAS_READABLE
    # Bytes by type, tracked or not, and what holds the sparsest arenas
    # (mimalloc: segments): the block census.
    census = CENSUS_ALLOCATOR is not None
    unit = "segments" if CENSUS_ALLOCATOR == "mimalloc" else "arenas"
    assert (f"{CENSUS_ALLOCATOR}'s blocks by the object they hold" in text) == census
    assert (f"{unit} held by the fewest objects" in text) == census
    data = json.loads(run_memprobe("where", "--json", check=True).stdout)
    assert (data["blocks"] is None) == (not census) == (data["blocks_unavailable"] is not None)
    if census:
        assert data["blocks"]["kind"] == "block-census" and data["blocks"]["bytes"]["builtins.str"] > 0
    assert data["rss"]["kind"] == "rss" and data["rss"]["verdict"]
    assert (data["fragmentation"] is None) == (not ARENAS_READABLE) == (data["fragmentation_unavailable"] is not None)
    assert data["top_types"] and all(isinstance(n, int) for _, n in data["top_types"])


def test_without_proc_the_total_and_the_rest_are_unknown(monkeypatch, tmp_path):
    """Where /proc is not mounted (a chroot, a container) the resident set
    size cannot be read: it and the rest are unknown, never 0."""
    from memprobe import _rss

    monkeypatch.setattr(_rss, "STATM", str(tmp_path / "no-proc" / "statm"))
    r = memprobe.rss()
    assert r.total is None and r.other is None
    assert any("statm" in why for why in r.unknown)


RETENTION = """
import gc, json, memprobe
def parts():
    r = memprobe.rss()
    return {"total": r.total, "free": r.malloc_free, "verdict": r.verdict}
gc.collect()
before = parts()
blocks = [bytes(2000) for _ in range(100_000)]   # 200 MB over 512 bytes each: malloc's
last = bytes(2000)                                 # keeps the heap's top in use
peak = parts()
del blocks
gc.collect()
print(json.dumps([before, peak, parts()]))
"""


@pytest.mark.skipif(not (PROC and GLIBC) or ON_MIMALLOC,
                    reason="needs /proc, glibc's mallinfo2, and objects over 512 bytes from malloc (not mimalloc)")
def test_memory_glibc_keeps_after_a_free_is_malloc_free_and_still_resident():
    """The glibc-retention case: 200 MB of >512-byte objects freed while a
    later block pins the heap's top.  malloc's free bytes grow by them, the
    resident set does not shrink, and the verdict names the C allocator."""
    before, peak, after = json.loads(run_code(RETENTION, check=True).stdout)
    freed = 100_000 * 2000
    assert after["free"] - before["free"] >= 0.95 * freed
    assert after["total"] >= peak["total"] - 0.05 * freed
    assert after["verdict"].startswith("C-allocator retention")
    assert not peak["verdict"].startswith("C-allocator retention")
