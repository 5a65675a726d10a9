"""The metrics exporters, against the real libraries: a prometheus_client
collector scraped over HTTP from a real exposition server on 127.0.0.1,
and OpenTelemetry instruments read by a real MeterProvider's in-memory
reader.  What they publish equals what gc, sys and memprobe's own probes
say; what cannot be read here is left out, never sent as 0."""
import gc
import sys
import urllib.request

import pytest

import memprobe
from _support import FREE_THREADED, PYMALLOC_SERVING, run_code

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from memprobe import _metrics, prometheus  # noqa: E402


@pytest.fixture
def collector_paused():
    """No automatic collection between a scrape and what gc says after it."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    if was:
        gc.enable()


@pytest.fixture
def scrape():
    """A real exposition server on 127.0.0.1 with memprobe's collector;
    scrape() fetches /metrics over HTTP: {(name, label value): value}."""
    registry = prometheus_client.CollectorRegistry()
    collectors = []

    def register(**options):
        collectors.append(prometheus.register(registry, **options))
        return collectors[-1]

    server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.server_port}/metrics"

    def fetch():
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                label = next(iter(s.labels.values()), None)
                out[s.name, label] = s.value
        return out

    fetch.register = register
    yield fetch
    server.shutdown()
    server.server_close()
    thread.join(10)
    for c in collectors:
        registry.unregister(c)
        c.close()


def test_a_scrape_shows_the_collectors_statistics_counts_and_thresholds(scrape, collector_paused):
    scrape.register()
    got = scrape()
    stats = gc.get_stats()
    counts = gc.get_count()
    for g, s in enumerate(stats):
        assert got["memprobe_gc_collections_total", str(g)] == s["collections"]
        assert got["memprobe_gc_collected_objects_total", str(g)] == s["collected"]
        assert got["memprobe_gc_uncollectable_objects_total", str(g)] == s["uncollectable"]
    for g, threshold in enumerate(gc.get_threshold()):
        assert got["memprobe_gc_generation_threshold", str(g)] == threshold
    assert [got["memprobe_gc_generation_pending", str(g)] for g in (1, 2)] == list(counts[1:])
    # Generation 0's count moves with every tracked object made or freed,
    # the scrape's own among them (on free-threaded builds it goes below 0).
    assert abs(got["memprobe_gc_generation_pending", "0"] - counts[0]) < 5000


def test_a_scrape_with_lengths_shows_the_generations_lists(scrape, collector_paused):
    """Generations 1 and 2 change only in collections, so with the
    collector paused they are what gc.get_objects() lists."""
    scrape.register(lengths=True)
    got = scrape()
    if FREE_THREADED:   # no generation lists: their lengths are not known, so not sent
        assert not any(name == "memprobe_gc_generation_objects" for name, _ in got)
        return
    lengths = [len(gc.get_objects(1)), len(gc.get_objects(2))]
    assert [got["memprobe_gc_generation_objects", g] for g in ("1", "2")] == lengths
    assert got["memprobe_gc_frozen_objects", None] == gc.get_freeze_count()


def test_the_walk_of_the_generations_is_opt_in_above_a_heap_size(scrape):
    """Above lengths_below tracked objects (100,000 unless told, by the
    collector's own estimate) a scrape does not walk the lists: on a heap
    collections have reordered that walk takes 175 ms per million objects.
    lengths=True always walks, lengths=False never."""
    def keys(**options):
        reader = _metrics.Reader(**options)
        try:
            return {s.metric.key for s in reader.read()}
        finally:
            reader.close()

    reader = _metrics.Reader()
    reader.close()
    assert reader.walks_lengths(100_000) and not reader.walks_lengths(100_001)
    assert not reader.walks_lengths(None)       # no estimate: not walked
    above = keys(lengths_below=0)
    assert "gc_objects" not in above and "gc_count" in above
    assert ("gc_objects" in keys(lengths=True, lengths_below=0)) is not FREE_THREADED
    assert "gc_objects" not in keys(lengths=False)
    scrape.register(lengths_below=0)
    assert not any(name == "memprobe_gc_generation_objects" for name, _ in scrape())


def test_a_scrape_shows_pymalloc_as_its_own_snapshot_says(scrape):
    scrape.register()
    got = scrape()
    if not PYMALLOC_SERVING:
        assert not any(name.startswith("memprobe_pymalloc_") for name, _ in got)
        return
    p = memprobe.pymalloc()
    assert got["memprobe_pymalloc_arenas_highwater", None] <= p.arenas_highwater
    assert got["memprobe_pymalloc_arenas_allocated_total", None] <= p.arenas_allocated_total
    assert abs(got["memprobe_pymalloc_arenas", None] - p.arenas_current) <= 1
    block_bytes = got["memprobe_pymalloc_block_bytes", None]
    arena_bytes = got["memprobe_pymalloc_arenas", None] * p.arena_size
    assert 0 < block_bytes <= arena_bytes
    assert got["memprobe_pymalloc_fragmentation_ratio", None] == pytest.approx(1 - block_bytes / arena_bytes)
    assert 0 < got["memprobe_pymalloc_pools_used", None] <= arena_bytes // p.pool_size


def test_mimalloc_committed_is_there_only_where_mimalloc_serves(scrape):
    scrape.register()
    got = scrape()
    try:
        committed = memprobe.mimalloc().bytes_committed
    except memprobe.MemprobeError:
        assert ("memprobe_mimalloc_committed_bytes", None) not in got
    else:
        assert got["memprobe_mimalloc_committed_bytes", None] > 0 and committed > 0


def test_resident_memory_is_split_as_rss_splits_it(scrape):
    scrape.register()
    got = scrape()
    r = memprobe.rss()
    if r.total is None:
        assert ("memprobe_resident_total_bytes", None) not in got
        return
    total = got["memprobe_resident_total_bytes", None]
    assert abs(total - r.total) < 64 << 20      # the same process, a scrape apart
    parts = {label: v for (name, label), v in got.items() if name == "memprobe_resident_bytes"}
    assert set(parts) <= {"pymalloc", "mimalloc", "malloc", "other"}
    if r.pymalloc_resident is not None:
        assert parts["pymalloc"] > 0
    assert "other" not in parts or sum(parts.values()) == pytest.approx(total, rel=0.01)


@pytest.mark.skipif(sys.version_info >= (3, 15), reason="3.15 counts collection durations itself")
def test_collection_durations_are_timed_from_gc_callbacks_while_registered(scrape):
    c = scrape.register()
    assert c.reader._callback in gc.callbacks
    gc.collect()
    assert scrape()["memprobe_gc_collection_seconds_total", "2"] > 0
    c.close()
    assert c.reader._callback is None


@pytest.mark.skipif(sys.version_info < (3, 15), reason="3.15+: gc.get_stats() counts durations")
def test_on_3_15_collection_durations_and_candidates_are_the_interpreters(scrape, collector_paused):
    scrape.register()
    got = scrape()
    for g, s in enumerate(gc.get_stats()):
        assert got["memprobe_gc_collection_seconds_total", str(g)] == pytest.approx(s["duration"])
        assert got["memprobe_gc_candidate_objects_total", str(g)] == s["candidates"]


def test_registering_reads_nothing_and_every_name_has_help_and_a_unit():
    calls = []
    registry = prometheus_client.CollectorRegistry()
    c = prometheus.MemprobeCollector()
    c.reader.read = lambda: calls.append(1) or []
    registry.register(c)
    assert calls == []
    c.close()
    for m in _metrics.METRICS:
        assert m.prometheus.startswith("memprobe_") and m.help.endswith(".")
        assert m.opentelemetry.startswith(("cpython.gc.", "cpython.memory."))
    assert {m.opentelemetry for m in _metrics.METRICS} >= {
        "cpython.gc.collections", "cpython.gc.collected_objects", "cpython.gc.uncollectable_objects"}


def test_the_registry_knows_every_name_so_a_second_registration_is_refused():
    """describe() lists every family without reading anything: a second
    register() in one registry is an error (two copies would break an
    OpenMetrics scrape), and a scrape filtered by name finds memprobe's."""
    registry = prometheus_client.CollectorRegistry()
    c = prometheus.register(registry)
    try:
        with pytest.raises(ValueError):
            prometheus.register(registry)
        families = list(registry.restricted_registry(["memprobe_resident_total_bytes"]).collect())
        if memprobe.rss().total is not None:
            assert [f.name for f in families] == ["memprobe_resident_total_bytes"]
    finally:
        registry.unregister(c)
        c.close()


def test_a_collector_dropped_without_close_leaves_no_callback_behind():
    before = list(gc.callbacks)
    c = prometheus.MemprobeCollector()
    del c
    gc.collect()
    assert gc.callbacks == before


@pytest.mark.skipif(sys.version_info >= (3, 15), reason="3.15 counts collection durations itself")
def test_after_close_the_durations_stay_where_they_were():
    reader = _metrics.Reader()
    gc.collect()
    reader.close()
    seconds = [s.value for s in reader.read() if s.metric.key == "gc_duration"]
    assert len(seconds) == 3 and seconds[2] > 0
    gc.collect()
    assert [s.value for s in reader.read() if s.metric.key == "gc_duration"] == seconds


@pytest.mark.skipif(FREE_THREADED, reason="no permanent generation list on free-threaded builds")
def test_a_frozen_heap_is_walked_only_when_asked():
    """gc.freeze() before fork can leave millions of objects in the
    permanent list, which the heap estimate leaves out: its count is sent
    only with lengths=True (or as 0 when it is known to be empty)."""
    def frozen(**options):
        reader = _metrics.Reader(**options)
        try:
            return [s.value for s in reader.read() if s.metric.key == "gc_frozen"]
        finally:
            reader.close()

    gc.collect()
    assert frozen(lengths_below=10**9) == ([0] if gc.get_freeze_count() == 0 else [])
    kept = [[] for _ in range(1000)]
    gc.freeze()
    try:
        assert frozen(lengths_below=10**9) == []
        assert frozen(lengths=True) == [gc.get_freeze_count()]
    finally:
        gc.unfreeze()
    del kept


def test_bad_options_are_refused():
    with pytest.raises(TypeError):
        prometheus.MemprobeCollector(lengths="yes")
    with pytest.raises(TypeError):
        prometheus.MemprobeCollector(lengths_below=1.5)
    with pytest.raises(ValueError):
        prometheus.MemprobeCollector(lengths_below=-1)


def test_the_core_imports_neither_library():
    out = run_code("""
        import sys, memprobe
        memprobe.report()
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("prometheus_client", "opentelemetry")))
    """, check=True).stdout
    assert out.strip() == "[]"


# ---- OpenTelemetry ------------------------------------------------------------------

@pytest.fixture
def otel():
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from memprobe import opentelemetry as mo

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    registration = mo.register(provider)

    def read():
        """The scope, and {(instrument name, attributes as a tuple): value}."""
        out = {}
        data = reader.get_metrics_data()
        (resource,) = data.resource_metrics
        # Some SDKs add a scope of their own metrics from the second export.
        (scope,) = [s for s in resource.scope_metrics if s.scope.name == "memprobe"]
        for metric in scope.metrics:
            for point in metric.data.data_points:
                out[metric.name, tuple(sorted(point.attributes.items()))] = point.value
        return scope.scope, out

    read.registration = registration
    yield read
    registration.close()
    provider.shutdown()


def test_opentelemetry_uses_the_semantic_conventions_gc_names(otel, collector_paused):
    scope, got = otel()
    assert scope.name == "memprobe" and scope.version == memprobe.__version__
    for g, s in enumerate(gc.get_stats()):
        attrs = (("cpython.gc.generation", g),)
        assert got["cpython.gc.collections", attrs] == s["collections"]
        assert got["cpython.gc.collected_objects", attrs] == s["collected"]
        assert got["cpython.gc.uncollectable_objects", attrs] == s["uncollectable"]
    for g, threshold in enumerate(gc.get_threshold()):
        assert got["cpython.gc.generation.threshold", (("cpython.gc.generation", g),)] == threshold
    if PYMALLOC_SERVING:
        assert got["cpython.memory.pymalloc.arenas.current", ()] >= 1
    else:
        assert not any(name.startswith("cpython.memory.pymalloc.") for name, _ in got)


def test_opentelemetry_reads_once_per_collection(otel):
    calls = []
    reader = otel.registration.reader
    real = reader.read
    reader.read = lambda: calls.append(1) or real()
    otel()
    otel()
    assert calls == [1, 1]
