"""What a scrape of `/metrics` gets: the counted metrics, then the database gauges.

Without PROMETHEUS_MULTIPROC_DIR the counted metrics are this process's own (its default
registry, with prometheus_client's process and Python collectors). With it they are the sum
over every process that wrote to the directory, read from their files at each scrape by
`MultiProcessCollector`, as prometheus_client's multiprocess mode prescribes. The database
gauges follow either way (`database.DatabaseCollector`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from . import directory
from .database import DatabaseCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST


class _Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class _Scrape:
    """Several collectors read one after the other, as one for `generate_latest`."""

    def __init__(self, *sources: _Collector) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def render() -> bytes:
    """The Prometheus text of one scrape (call inside an app context: the gauges query)."""
    shared = directory.configured()
    counted: _Collector = MultiProcessCollector(None, path=shared) if shared else REGISTRY
    return generate_latest(_Scrape(counted, DatabaseCollector()))  # type: ignore[arg-type]
