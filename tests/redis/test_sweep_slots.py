"""The sweep's gateway rate limit holds across processes sharing Redis (gateways/rate_limit.py).

Two processes take Stripe slots as fast as they are granted, as two sweepers (two
`flask scheduler` processes) would. With Redis they share the turns (about 1/share seconds
apart) and the moving one-second window behind them; with memory storage each counts alone and
twice the limit goes through, which is why production sets RATELIMIT_STORAGE_URI to Redis.

What is asserted is what the limiter decides (which turn each grant got), not when a process
got round to printing it: on two busy cores a process can be descheduled for a good part of a
second between its grant and its clock reading.
"""

from __future__ import annotations

import math
import subprocess
import sys

from checkout.gateways.rate_limit import TURN_SLACK, SweepSlots
from checkout.gateways.stripe.client import StripeGateway
from tests.redis.conftest import ROOT

SECONDS = 2.5


def granted_by_two_processes(storage: str, limit: float) -> list[list[int]]:
    """The turns each of the two processes was granted."""
    command = [sys.executable, "-m", "tests.redis.slot_taker", storage, str(SECONDS), str(limit)]
    processes = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    granted: list[list[int]] = []
    for process in processes:
        out, _ = process.communicate(timeout=SECONDS + 30)
        assert process.returncode == 0
        granted.append([int(line.split()[0]) for line in out.splitlines()])
    return granted


def check_turns(granted: list[list[int]], share: int, limit: float) -> None:
    """Each turn went to one process only, so at most share/(1+slack) a second, under `limit`.

    Turns are (1 + TURN_SLACK)/share seconds apart: distinct turns cannot come closer, and a
    second holds at most share/(1 + TURN_SLACK) + 1 of them.
    """
    assert all(granted), "each process got turns"
    turns = granted[0] + granted[1]
    assert len(turns) == len(set(turns)), "two processes were granted the same turn"
    per_second = share / (1 + TURN_SLACK)
    span = max(turns) - min(turns) + 1  # turns the run covered
    assert span / per_second >= SECONDS - 0.5  # the run lasted the time asked (a sanity check)
    assert len(turns) >= 0.8 * span  # the processes kept taking turns: near full use
    assert math.floor(per_second) + 1 <= share < limit  # so any second holds at most `share`


def test_two_sweepers_never_pass_the_test_mode_limit_together(redis_url: str) -> None:
    limit = StripeGateway.rate_limit({"STRIPE_SECRET_KEY": "sk_test_x"})
    share = SweepSlots(redis_url).sweep_share(limit)
    assert (limit, share) == (25.0, 17)

    check_turns(granted_by_two_processes(redis_url, limit), share, limit)


def test_a_live_key_gets_four_times_as_many(redis_url: str) -> None:
    limit = StripeGateway.rate_limit({"STRIPE_SECRET_KEY": "sk_live_x"})
    share = SweepSlots(redis_url).sweep_share(limit)
    assert (limit, share) == (100.0, 70)
    check_turns(granted_by_two_processes(redis_url, limit), share, limit)


def test_memory_storage_counts_each_process_alone() -> None:
    first, second = granted_by_two_processes("memory://", 25.0)
    both = set(first) & set(second)
    assert len(both) >= len(set(first)) / 2  # each took the same turns: twice the share
