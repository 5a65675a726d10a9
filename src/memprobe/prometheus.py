"""memprobe's numbers as a prometheus_client collector
(``pip install cpython-memprobe[prometheus]``)::

    import memprobe.prometheus
    memprobe.prometheus.register()            # into prometheus_client's REGISTRY

Each scrape reads every metric of memprobe._metrics once (what each costs,
and when the generations' lengths are walked, is said there): the
collector's counts, thresholds, statistics, collection durations and list
lengths; pymalloc's arenas, pools, block bytes and fragmentation;
mimalloc's committed bytes; resident memory by what holds it.  Names start
with ``memprobe_``, so they sit beside prometheus_client's own
``python_gc_*`` collector.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional

try:
    from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as exc:      # pragma: no cover - the extra is missing
    raise ImportError("memprobe.prometheus needs prometheus_client: "
                      "pip install 'cpython-memprobe[prometheus]'") from exc

from ._metrics import DEFAULT_LENGTHS_BELOW, METRICS, Metric as _Declared, Reader

__all__ = ["MemprobeCollector", "register"]

# Prometheus's base units, as name suffixes, for the UCUM units of METRICS.
_UNITS = {"By": "bytes", "s": "seconds", "1": "ratio"}


class MemprobeCollector(Collector):
    """A prometheus_client collector of memprobe's metrics."""

    def __init__(self, lengths: Optional[bool] = None, lengths_below: int = DEFAULT_LENGTHS_BELOW) -> None:
        self.reader = Reader(lengths, lengths_below)

    def describe(self) -> List[Metric]:
        """Every family a scrape may show, without reading anything: the
        registry learns the names (a second registration is refused, and
        name filters find them)."""
        return [_family(m) for m in METRICS]

    def collect(self) -> Iterator[Metric]:
        families: Dict[str, Any] = {}
        for sample in self.reader.read():
            family = families.get(sample.metric.key)
            if family is None:
                family = families[sample.metric.key] = _family(sample.metric)
            family.add_metric([sample.label] if sample.label is not None else [], sample.value)
        yield from families.values()

    def close(self) -> None:
        """Stop timing collections (see memprobe._metrics.Reader)."""
        self.reader.close()


def _family(m: _Declared) -> Any:
    kind = CounterMetricFamily if m.kind == "counter" else GaugeMetricFamily
    return kind(m.prometheus, m.help, labels=[m.label] if m.label else None, unit=_UNITS.get(m.unit, ""))


def register(registry: Optional[CollectorRegistry] = None, lengths: Optional[bool] = None,
             lengths_below: int = DEFAULT_LENGTHS_BELOW) -> MemprobeCollector:
    """A MemprobeCollector registered in ``registry`` (prometheus_client's
    REGISTRY unless told; registering twice in one registry is refused);
    ``registry.unregister(c)`` and then ``c.close()`` take it out again
    (close() stops the timing of collections before 3.15)."""
    collector = MemprobeCollector(lengths, lengths_below)
    (REGISTRY if registry is None else registry).register(collector)
    return collector

