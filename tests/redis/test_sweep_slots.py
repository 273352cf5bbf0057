"""The sweep's gateway rate limit holds across processes sharing Redis (gateways/rate_limit.py).

Two processes take Stripe slots as fast as they are granted, as two sweepers (two
`flask scheduler` processes) would. With Redis they share the turns (1/share seconds apart)
and the moving one-second window behind them; with memory storage each counts alone and twice
the limit goes through, which is why production sets RATELIMIT_STORAGE_URI to Redis.
"""

from __future__ import annotations

import math
import subprocess
import sys

from checkout.gateways.rate_limit import TURN_SLACK, SweepSlots
from checkout.gateways.stripe.client import StripeGateway
from tests.grant_windows import most_within
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


def check_window(stamps: list[float], share: int, limit: float) -> None:
    """The sweep's share per second, spread over the second, never the gateway's own limit.

    Each grant is stamped once it is made, a moment after the moving window counted it; turns a
    second apart can so be stamped a few ms less than a second apart, hence 0.98 for a second.
    """
    assert most_within(stamps, 0.98) <= share
    assert most_within(stamps, 1.0) >= share / (1 + TURN_SLACK) - 1  # full use of the share
    assert most_within(stamps, 1.0) < limit
    # paced: a tenth of a second holds its tenth of the share, one more if it starts at a turn
    assert most_within(stamps, 0.1) <= math.ceil(share / 10) + 1


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
