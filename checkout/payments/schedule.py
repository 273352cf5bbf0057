"""When to look at a pending payment again.

Young payments are checked often (shoppers are watching); older ones less. Transport errors push
the next check back exponentially, capped, so a gateway outage slows polling down instead of
hammering the gateway or failing payments.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_ERROR_BASE = timedelta(seconds=30)
_ERROR_CAP = timedelta(hours=1)


def next_poll_at(created_at: datetime, now: datetime) -> datetime:
    age = now - created_at
    if age < timedelta(minutes=15):
        return now + timedelta(seconds=30)
    if age < timedelta(hours=2):
        return now + timedelta(minutes=2)
    return now + timedelta(minutes=10)


def backoff_delay(failures: int) -> timedelta:
    """Delay after the `failures`-th consecutive transport error: 30 s, 60 s, 120 s ... 1 h."""
    exponent = max(failures - 1, 0)
    delay = _ERROR_BASE * (2 ** min(exponent, 16))
    return min(delay, _ERROR_CAP)
