"""memprobe's numbers as OpenTelemetry observable instruments
(``pip install cpython-memprobe[opentelemetry]``)::

    import memprobe.opentelemetry
    memprobe.opentelemetry.register()       # on the global MeterProvider

The collector's metrics use the ``cpython.gc.*`` names of OpenTelemetry's
semantic conventions (``cpython.gc.collections``,
``cpython.gc.collected_objects``, ``cpython.gc.uncollectable_objects``,
with the ``cpython.gc.generation`` attribute) and the same namespace for
the rest of the collector; the allocators and resident memory are under
``cpython.memory.*``.  Every metric is declared in memprobe._metrics,
which also says what a reading costs.  One collection of the metrics
makes one reading: each instrument's callback takes its numbers from the
reading of the current collection.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, Iterable, List, Optional, Set

try:
    from opentelemetry import metrics
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
except ImportError as exc:      # pragma: no cover - the extra is missing
    raise ImportError("memprobe.opentelemetry needs opentelemetry-api: "
                      "pip install 'cpython-memprobe[opentelemetry]'") from exc

from ._metrics import DEFAULT_LENGTHS_BELOW, METRICS, Metric, Reader, Sample

__all__ = ["Registration", "register"]

_ATTRIBUTES = {"generation": "cpython.gc.generation", "part": "cpython.memory.part"}


class Registration:
    """The instruments registered, and the reading they share."""

    def __init__(self, meter: Meter, lengths: Optional[bool], lengths_below: int) -> None:
        self.reader = Reader(lengths, lengths_below)
        self._lock = threading.Lock()
        self._reading: Dict[str, List[Sample]] = {}
        self._served: Set[str] = set()
        self.instruments: List[Any] = []
        for m in METRICS:
            create = meter.create_observable_counter if m.kind == "counter" else meter.create_observable_gauge
            self.instruments.append(create(m.opentelemetry, callbacks=[self._callback(m)], unit=m.unit,
                                           description=m.help))

    def _callback(self, metric: Metric) -> Any:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(s.value, {} if s.label is None else {_ATTRIBUTES[metric.label or ""]: _typed(s)})
                    for s in self._samples(metric.key)]
        return observe

    def _samples(self, key: str) -> List[Sample]:
        """The samples of one metric from this collection's reading: a
        metric asked for twice means a new collection, so a new reading."""
        with self._lock:
            if not self._reading or key in self._served:
                self._reading = {}
                for sample in self.reader.read():
                    self._reading.setdefault(sample.metric.key, []).append(sample)
                self._served = set()
            self._served.add(key)
            return self._reading.get(key, [])

    def close(self) -> None:
        """Stop timing collections (see memprobe._metrics.Reader)."""
        self.reader.close()


def _typed(sample: Sample) -> Any:
    """Generations are ints, as the semantic conventions have them."""
    label = sample.label
    return int(label) if sample.metric.label == "generation" and label is not None else label


def register(meter_provider: Optional[MeterProvider] = None, lengths: Optional[bool] = None,
             lengths_below: int = DEFAULT_LENGTHS_BELOW) -> Registration:
    """memprobe's instruments on a meter named "memprobe" of
    ``meter_provider`` (the global one unless told).  Call close() on the
    result when done (before 3.15 it times collections until then; a
    provider's shutdown() does not close it)."""
    from . import __version__

    provider = metrics.get_meter_provider() if meter_provider is None else meter_provider
    return Registration(provider.get_meter("memprobe", __version__), lengths, lengths_below)
