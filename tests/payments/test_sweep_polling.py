"""The sweep under a gateway's rate limit: a 429 slows that gateway down and fails nothing.

Each gateway's sandbox answers its own 429 (the throttle_rate knob): Stripe's `rate_limit` error,
MPGS's envelope with Retry-After, OPPWA's `800.120.100 Rejected by Throttling`.
"""

from __future__ import annotations

import time

import pytest
from flask import Flask

from checkout.gateways.rate_limit import SweepSlots
from checkout.payments.sweep import sweep_pending
from tests.conftest import Sandbox
from tests.reconciliation import (
    completions,
    due_now,
    events,
    open_payments,
    pay_ref,
    payment,
    quiet,
)


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


@pytest.mark.parametrize("gateway", ["stripe", "mpgs"])
def test_a_429_pauses_the_gateway_and_the_payment_completes_on_a_later_pass(
    app: Flask, sandbox: Sandbox, fulfilments, gateway: str
) -> None:
    [ref] = open_payments(app, gateway, 1)
    with app.app_context():
        pay_ref(sandbox, ref)
        sandbox.knobs(gateway, throttle_rate=1.0)
        due_now()
        run = sweep_pending("test")

        assert (run.errors, run.changed) == (0, 0)
        assert run.details["gateways"][gateway]["rate_limited"] == 1
        row = payment(ref)
        assert row.status == "PENDING"
        assert row.failure_count == 0 and row.next_check_at is None  # still due, not backed off
        assert events(ref, kind="error") == []
        slots = SweepSlots.for_app(app)
        paused = slots.paused_for(gateway)
        assert paused > 0
        assert slots.paused_for("coinpayments") == 0  # only that gateway slows down

        sandbox.knobs(gateway, throttle_rate=0.0)
        started = time.monotonic()
        later = sweep_pending("test")

        assert time.monotonic() - started >= paused - 0.2  # it waited the pause out
        assert (later.errors, later.changed) == (0, 1)
        assert payment(ref).status == "COMPLETED"
        assert len(completions(ref)) == 1
    assert [r for r, _ in fulfilments] == [ref]


def test_a_pause_longer_than_the_wait_leaves_every_payment_for_later(
    app: Flask, sandbox: Sandbox
) -> None:
    refs = open_payments(app, "stripe", 3)
    with app.app_context():
        app.config["SWEEP_RATE_WAIT_SECONDS"] = 0.1
        app.extensions.pop("tollgate_sweep_slots", None)
        SweepSlots.for_app(app).pause("stripe", 5)
        due_now()
        run = sweep_pending("test")

        assert run.errors == 0 and run.details["gateways"]["stripe"]["rate_limited"] == 3
        assert {payment(ref).status for ref in refs} == {"PENDING"}
        assert all(payment(ref).failure_count == 0 for ref in refs)
