"""Reading `/metrics` back as numbers: the scrape parsed with prometheus_client's own parser."""

from __future__ import annotations

from dataclasses import dataclass

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample by name and labels, and each family's label names."""

    values: dict[tuple[str, frozenset[tuple[str, str]]], float]
    families: dict[str, str]  # family name -> its type (counter, histogram, gauge)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        values = {}
        families = {}
        for family in text_string_to_metric_families(text):
            families[family.name] = family.type
            for sample in family.samples:
                values[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return cls(values, families)

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when absent (a labelled counter not yet counted)."""
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def labels_of(self, name: str) -> set[frozenset[str]]:
        """The label names the samples of `name` carry."""
        return {frozenset(k for k, _ in labels) for n, labels in self.values if n == name}

    def minus(self, before: Scrape, name: str, **labels: str) -> float:
        """How much a counter grew since `before` (counters are per process, not per test)."""
        return self.value(name, **labels) - before.value(name, **labels)


def scrape(client: FlaskClient, **headers: str) -> Scrape:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.status_code
    return Scrape.parse(response.get_data(as_text=True))
