"""The dashboard's SVG charts: axes that count things show whole, distinct numbers."""

from __future__ import annotations

import re

import pytest

from checkout.blueprints.charts import Series, bars


@pytest.mark.parametrize("biggest", [1, 2, 3, 7, 12, 37, 180])
def test_the_y_axis_labels_are_distinct_whole_numbers_up_to_the_top(biggest: int) -> None:
    svg = bars(
        "Payments",
        ["05 Dec"],
        [Series("Paid", [biggest], "#4ade80")],
        x_label="Day",
        y_label="Payments",
        chart_id="t",
    )
    labels = re.findall(r'text-anchor="end"[^>]*>([\d,]+)<', str(svg))
    numbers = [int(label.replace(",", "")) for label in labels]
    assert numbers == sorted(set(numbers)) and numbers[0] == 0
    assert numbers[-1] >= biggest
