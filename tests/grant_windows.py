"""How many of a list of moments fall inside a window: how the sweep's pacing is checked."""

from __future__ import annotations


def most_within(stamps: list[float], seconds: float) -> int:
    """The most of the sorted `stamps` inside any window of `seconds`."""
    most, start = 0, 0
    for end, moment in enumerate(stamps):
        while moment - stamps[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most
