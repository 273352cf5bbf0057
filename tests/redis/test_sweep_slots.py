"""The sweep's gateway rate limit holds across processes sharing Redis (gateways/rate_limit.py).

Two processes take Stripe slots as fast as they are granted, as two sweepers (two
`flask scheduler` processes) would. With Redis they share one moving one-second window; with
memory storage each counts alone and twice the limit goes through, which is why production
sets RATELIMIT_STORAGE_URI to Redis.
"""

from __future__ import annotations

import subprocess
import sys

from checkout.gateways.rate_limit import SweepSlots
from checkout.gateways.stripe.client import StripeGateway
from tests.redis.conftest import ROOT

SECONDS = 2.5


def granted_by_two_processes(storage: str, limit: float) -> list[float]:
    command = [sys.executable, "-m", "tests.redis.slot_taker", storage, str(SECONDS), str(limit)]
    processes = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    stamps: list[float] = []
    for process in processes:
        out, _ = process.communicate(timeout=SECONDS + 30)
        assert process.returncode == 0
        stamps.extend(float(line) for line in out.split())
    return sorted(stamps)


def most_within(stamps: list[float], seconds: float) -> int:
    """The most grants inside any window of `seconds`."""
    most, start = 0, 0
    for end, moment in enumerate(stamps):
        while moment - stamps[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def check_window(stamps: list[float], share: int, limit: float) -> None:
    """The sweep's share per second, and never the gateway's own limit.

    A grant is stamped just after it is made, and the moving window stamps each hit with its
    own process's clock, so two processes racing by a millisecond can show one grant more in a
    second (docs/rate-limits.md): the share leaves the gateway a fifth of its limit for that.
    """
    assert share <= most_within(stamps, 0.95) <= share + 1
    assert most_within(stamps, 1.0) < limit


def test_two_sweepers_never_pass_the_test_mode_limit_together(redis_url: str) -> None:
    limit = StripeGateway.rate_limit({"STRIPE_SECRET_KEY": "sk_test_x"})
    share = SweepSlots(redis_url).sweep_share(limit)
    assert (limit, share) == (25.0, 20)

    stamps = granted_by_two_processes(redis_url, limit)

    check_window(stamps, share, limit)  # full use of the share, never more
    assert len(stamps) >= 2 * share  # both kept getting slots for the whole time


def test_a_live_key_gets_four_times_as_many(redis_url: str) -> None:
    limit = StripeGateway.rate_limit({"STRIPE_SECRET_KEY": "sk_live_x"})
    share = SweepSlots(redis_url).sweep_share(limit)
    assert (limit, share) == (100.0, 80)
    check_window(granted_by_two_processes(redis_url, limit), share, limit)


def test_memory_storage_counts_each_process_alone() -> None:
    stamps = granted_by_two_processes("memory://", 25.0)
    assert most_within(stamps, 1.0) >= 40  # twice the share: why production needs Redis
