"""Prometheus metrics of one agent, served at ``/metrics``.

Each running agent has its own :class:`Metrics` (``ctx.metrics`` in a package): its own
``CollectorRegistry``, so several agents in one process (tests, the demo) never share or clash.
Counters and histograms are updated where things happen, in memory. What only the database
knows (jobs waiting, sessions by state) is a *read gauge*: an async function the endpoint
awaits at scrape time, so no message ever pays a query for a metric.

Under ``patchwire serve --workers N`` every process counts its own; the endpoint then reports
the sum over all of them (prometheus-client's multiprocess mode, a directory the ``serve``
process makes and names in ``$PROMETHEUS_MULTIPROC_DIR``), so any process answers for all.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE", "MULTIPROCESS_ENV", "GaugeReader", "Metrics"]

logger = logging.getLogger("patchwire.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The ``Content-Type`` of what :meth:`Metrics.exposition` returns."""

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Set (by ``serve --workers N``) before the worker processes start: they count into files
there, and each one's ``/metrics`` sums them all."""

GaugeReader = Callable[[], Awaitable[Mapping[tuple[str, ...], float]]]
"""``async def read() -> {label values: value}``, awaited at each scrape (``()`` when the
gauge has no labels)."""

_Instrument = Counter | Histogram
_I = TypeVar("_I", Counter, Histogram)


class Metrics:
    """One agent's instruments; get-or-create by name, so each alias of a package may ask."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._instruments: dict[str, _Instrument] = {}
        self._read = _ReadGauges()
        self.registry.register(self._read)

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        """The counter ``name`` (exposed as ``<name>_total``), made on first use."""
        return self._get(Counter, name, documentation, labels)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    ) -> Histogram:
        """The histogram ``name`` (seconds by convention: end the name in ``_seconds``)."""
        return self._get(Histogram, name, documentation, labels, buckets=tuple(buckets))

    def gauge(
        self, name: str, documentation: str, labels: Sequence[str], read: GaugeReader
    ) -> None:
        """A gauge whose values ``read()`` returns at scrape time (from the database, say).

        Several readers of one name add their values up (each alias of a plugin reads its own).
        """
        self._read.add(name, documentation, tuple(labels), read)

    async def exposition(self) -> bytes:
        """The text format Prometheus scrapes: read gauges first, then every instrument."""
        await self._read.refresh()
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self._read)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def _get(
        self,
        kind: type[_I],
        name: str,
        documentation: str,
        labels: Sequence[str],
        **options: object,
    ) -> _I:
        found = self._instruments.get(name)
        if found is None:
            made = kind(name, documentation, labels, registry=self.registry, **options)  # type: ignore[arg-type]
            self._instruments[name] = made
            return made
        if not isinstance(found, kind) or found._labelnames != tuple(labels):
            raise ValueError(
                f"metric {name!r} exists already as a {type(found).__name__.lower()} with "
                f"labels {list(found._labelnames)}: use those, or another name"
            )
        return found


class _ReadGauges:
    """The read gauges as a collector: values read by :meth:`refresh`, yielded by ``collect``."""

    def __init__(self) -> None:
        self._gauges: dict[str, tuple[str, tuple[str, ...], list[GaugeReader]]] = {}
        self._values: dict[str, dict[tuple[str, ...], float]] = {}

    def add(
        self, name: str, documentation: str, labels: tuple[str, ...], read: GaugeReader
    ) -> None:
        if name in self._gauges:
            _, known, readers = self._gauges[name]
            if known != labels:
                raise ValueError(
                    f"gauge {name!r} exists already with labels {list(known)}, not {list(labels)}"
                )
            readers.append(read)
            return
        self._gauges[name] = (documentation, labels, [read])

    async def refresh(self) -> None:
        values: dict[str, dict[tuple[str, ...], float]] = {}
        for name, (_, _, readers) in self._gauges.items():
            summed: dict[tuple[str, ...], float] = {}
            try:
                for read in readers:
                    for key, value in (await read()).items():
                        summed[key] = summed.get(key, 0.0) + value
            except Exception as error:  # the scrape goes on without this gauge
                logger.warning("metric %s could not be read: %s", name, error)
                continue
            values[name] = summed
        self._values = values

    def collect(self) -> Iterator[Metric]:
        for name, (documentation, labels, _) in self._gauges.items():
            if name not in self._values:
                continue
            family = GaugeMetricFamily(name, documentation, labels=list(labels))
            for key, value in sorted(self._values[name].items()):
                family.add_metric(list(key), value)
            yield family
