"""One sweeper process for tests/redis: take the sweep's Stripe slots for a while, print when.

    python -m tests.redis.slot_taker <storage uri> <seconds> <limit per second>

Each granted slot is printed as its turn's number and the Unix time it was granted, one a line.
"""

from __future__ import annotations

import sys
import time

from checkout.gateways.rate_limit import SweepSlots


def main() -> None:
    storage, seconds, limit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    slots = SweepSlots(storage, max_wait=seconds + 5)
    stop = time.time() + seconds
    budget = slots.budget("stripe", limit)
    while time.time() < stop:
        turn = slots.acquire(budget.gateway, budget.per_second)  # what each sweep request does
        print(turn, f"{time.time():.6f}", flush=True)


if __name__ == "__main__":
    main()
