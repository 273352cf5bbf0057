"""Each gateway's rate limit and the sweep's slots (gateways/rate_limit.py), on memory storage.

The same limiter across two processes sharing Redis is in tests/redis/test_sweep_slots.py.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from checkout.gateways.base import GatewayRateLimited
from checkout.gateways.coinpayments.client import CoinPaymentsGateway
from checkout.gateways.copyandpay.client import CopyAndPayGateway
from checkout.gateways.mpgs.client import MpgsGateway
from checkout.gateways.rate_limit import (
    TURN_SLACK,
    NoSlot,
    SweepSlots,
    before_request,
    retry_after,
    sweeping,
)
from checkout.gateways.stripe.client import StripeGateway
from tests.grant_windows import most_within


def stamps(slots: SweepSlots, n: int, gateway: str = "g", per_second: int = 5) -> list[float]:
    """The moments `n` slots were granted, one after another."""
    granted = []
    for _ in range(n):
        slots.acquire(gateway, per_second)
        granted.append(time.monotonic())
    return granted


@pytest.mark.parametrize(
    ("config", "limit"),
    [
        ({"STRIPE_SECRET_KEY": "sk_test_abc"}, 25.0),
        ({"STRIPE_SECRET_KEY": "rk_test_abc"}, 25.0),
        ({"STRIPE_SECRET_KEY": "sk_live_abc"}, 100.0),
        ({"STRIPE_SECRET_KEY": "sk_live_abc", "STRIPE_RATE_LIMIT": 40.0}, 40.0),
    ],
)
def test_stripe_gets_its_documented_limit_for_the_keys_mode(config, limit) -> None:
    assert StripeGateway.rate_limit(config) == limit


def test_the_other_gateways_read_their_setting_with_a_default() -> None:
    assert MpgsGateway.rate_limit({"MPGS_RATE_LIMIT": 20.0}) == 20.0
    assert CopyAndPayGateway.rate_limit({"COPYANDPAY_RATE_LIMIT": 7.0}) == 7.0
    assert CoinPaymentsGateway.rate_limit({}) == CoinPaymentsGateway.default_rate_limit


def test_the_sweep_takes_its_share_of_the_limit() -> None:
    slots = SweepSlots("memory://", share=0.8)
    assert (slots.sweep_share(25), slots.sweep_share(100), slots.sweep_share(1)) == (20, 80, 1)


def test_grants_are_paced_not_bursts() -> None:
    slots = SweepSlots("memory://")
    granted = stamps(slots, 17, per_second=8)
    # a quarter second holds two turns, three if it starts at one: never a burst of the share
    assert most_within(granted, 0.25) <= 8 / 4 + 1
    # the moving window behind the turns: the ninth grant a second after the first, and so on
    assert all(later - first >= 0.99 for first, later in zip(granted, granted[8:], strict=False))
    # and no turn lost: 16 turns after the first take two seconds, not much more
    assert granted[-1] - granted[0] < 2.3


def test_an_idle_sweep_takes_the_turn_under_way_at_once() -> None:
    slots = SweepSlots("memory://")
    started = time.monotonic()
    slots.acquire("g", 1)  # turns a second apart: waiting for the next would take up to 1 s
    assert time.monotonic() - started < 0.1


def test_a_wait_longer_than_allowed_gives_up_with_no_slot() -> None:
    slots = SweepSlots("memory://", max_wait=2.0)
    stamps(slots, 3, per_second=3)
    slots.max_wait = 0.2  # the next turn is a third of a second away
    with pytest.raises(NoSlot) as refused:
        slots.acquire("g", 3)
    assert isinstance(refused.value, GatewayRateLimited)
    assert 0.2 < refused.value.retry_after <= (1 + TURN_SLACK) / 3


def test_without_its_storage_each_process_paces_alone() -> None:
    slots = SweepSlots("redis://127.0.0.1:1/0")  # nothing listens there
    granted = stamps(slots, 9, per_second=8)
    assert most_within(granted, 0.25) <= 8 / 4 + 1
    assert granted[-1] - granted[0] >= 0.95  # eight turns of 1/8 s


def test_a_pause_holds_the_sweep_back_then_lets_it_go() -> None:
    slots = SweepSlots("memory://", max_wait=3.0)
    assert slots.paused_for("g") == 0
    assert slots.pause("g", 0.3) == 1.0  # whole seconds, as the storages keep expiries
    assert 0 < slots.paused_for("g") <= 1.0
    started = time.monotonic()
    slots.acquire("g", 100)
    assert time.monotonic() - started >= 0.5
    assert slots.paused_for("g") == 0
    assert slots.paused_for("other") == 0


def test_a_pause_longer_than_the_wait_is_no_slot() -> None:
    slots = SweepSlots("memory://", max_wait=0.1)
    slots.pause("g", None)  # no Retry-After: our own pause
    with pytest.raises(NoSlot):
        slots.acquire("g", 100)


def test_only_the_sweep_waits_for_slots() -> None:
    slots = SweepSlots("memory://", max_wait=0.1)
    with sweeping(slots.budget("g", 1.0)) as budget:
        before_request()
        with pytest.raises(NoSlot):
            before_request()
    assert budget.sent == 1  # the request refused a slot was never sent
    started = time.monotonic()
    for _ in range(20):
        before_request()  # a shopper's call: neither counted nor delayed
    assert time.monotonic() - started < 0.1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0", 0.0), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_in_seconds(header, seconds) -> None:
    assert retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= retry_after(format_datetime(later, usegmt=True)) <= 30


def test_threads_of_one_process_take_slots_in_turn_none_gives_up() -> None:
    slots = SweepSlots("memory://", max_wait=5.5)
    refused: list[Exception] = []

    def take() -> None:
        try:
            slots.acquire("g", 4)
        except NoSlot as exc:
            refused.append(exc)

    threads = [threading.Thread(target=take) for _ in range(16)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert refused == []
    # 16 turns a quarter second apart, the first under way when they came: at least 3.5 s
    assert time.monotonic() - started >= 3.45
