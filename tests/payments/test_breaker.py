"""The gateway circuit breaker's state machine, on the real database with a clock we move.

Thresholds are set per test (the testing config keeps the breaker from opening by itself).
Time is the breaker module's `utcnow`, replaced by a clock the tests advance: no sleeping.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import bindparam, event, select

from checkout.db_reads import read_all
from checkout.extensions import db
from checkout.gateways.base import GatewayConfigError, GatewayRejected, GatewayUnavailable
from checkout.gateways.errors import GatewayRateLimited
from checkout.gateways.registry import GatewayOption, gateway_options
from checkout.models import GatewayBreaker, Payment, Product, utcnow
from checkout.payments import breaker
from checkout.payments.breaker import TEMPORARILY_UNAVAILABLE, Result, Shown
from checkout.payments.service import Source, refresh
from checkout.payments.states import PaymentStatus
from checkout.payments.sweep import sweep_pending
from tests.conftest import Sandbox, sandbox_get
from tests.gateways.mpgs.conftest import force_answer
from tests.reconciliation import due_now, open_payments, pay_ref, payment

GATEWAY = "stripe"
COOLDOWN = 30
LEASE = 60
WINDOW = 60


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {
        "BREAKER_FAILURES": 3,
        "BREAKER_ERROR_PERCENT": 50,
        "BREAKER_MIN_CALLS": 0,
        "BREAKER_WINDOW_SECONDS": WINDOW,
        "BREAKER_COOLDOWN_SECONDS": COOLDOWN,
        "BREAKER_PROBE_LEASE_SECONDS": LEASE,
    }


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def breaker_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Make `monkeypatch` give the breaker a clock the test moves; returns it."""
    fake = Clock()
    monkeypatch.setattr(breaker, "utcnow", fake)
    return fake


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, app: Flask) -> Clock:
    return breaker_clock(monkeypatch)


def state(gateway: str = GATEWAY) -> str:
    return breaker.snapshot()[gateway]


def fail(times: int = 1, gateway: str = GATEWAY) -> None:
    for _ in range(times):
        breaker.record(gateway, Result.FAILURE, secrets.token_hex(8))


def succeed(times: int = 1, gateway: str = GATEWAY) -> None:
    for _ in range(times):
        breaker.record(gateway, Result.OK, secrets.token_hex(8))


def option(offer: breaker.Offer, name: str = GATEWAY) -> GatewayOption:
    return next(o for o in offer.options if o.name == name)


def selector(app: Flask) -> breaker.Offer:
    return breaker.offer(gateway_options(app.config))


def opened(clock: Clock) -> None:
    """Open the breaker at the clock's time (the fixture must be in use)."""
    fail(3)
    assert state() == Shown.OPEN


# --- what counts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (None, Result.OK),
        (GatewayUnavailable("timed out"), Result.FAILURE),
        (GatewayRateLimited("429", retry_after=2), Result.IGNORED),
        (GatewayRejected("amount too small"), Result.IGNORED),
        (GatewayConfigError("401 bad key"), Result.IGNORED),
    ],
)
def test_only_transient_failures_count_against_a_gateway(error, result) -> None:
    assert breaker.result_of(error) is result


def test_rejections_and_config_errors_neither_open_nor_break_a_run_of_failures(clock) -> None:
    for _ in range(10):
        breaker.record(GATEWAY, Result.IGNORED, secrets.token_hex(8))
    assert state() == Shown.CLOSED
    fail(2)
    breaker.record(GATEWAY, Result.IGNORED, secrets.token_hex(8))
    assert state() == Shown.CLOSED
    fail()
    assert state() == Shown.OPEN


# --- opening ------------------------------------------------------------------------------


def test_consecutive_transient_failures_open_it(clock) -> None:
    fail(2)
    assert state() == Shown.CLOSED
    fail()
    assert state() == Shown.OPEN
    assert state("mpgs") == Shown.CLOSED  # per gateway


def test_a_success_breaks_the_run(clock) -> None:
    fail(2)
    succeed()
    fail(2)
    assert state() == Shown.CLOSED


def test_an_error_rate_above_the_threshold_over_the_window_opens_it(app: Flask, clock) -> None:
    app.config.update(BREAKER_FAILURES=0, BREAKER_MIN_CALLS=4)
    for result in (Result.OK, Result.FAILURE, Result.OK, Result.FAILURE):
        breaker.record(GATEWAY, result, secrets.token_hex(8))
    assert state() == Shown.CLOSED  # 2 of 4 is 50 %: not above it
    fail()
    assert state() == Shown.OPEN  # 3 of 5


def test_the_rate_needs_its_minimum_of_calls(app: Flask, clock) -> None:
    app.config.update(BREAKER_FAILURES=0, BREAKER_MIN_CALLS=4)
    fail(3)
    assert state() == Shown.CLOSED  # 100 % of 3 calls


def test_failures_of_an_earlier_window_are_forgotten(app: Flask, clock) -> None:
    app.config.update(BREAKER_FAILURES=0, BREAKER_MIN_CALLS=4)
    fail(3)
    clock.advance(WINDOW + 1)
    succeed(3)
    fail()
    assert state() == Shown.CLOSED  # 1 of 4 in this window
    row = db.session.get(GatewayBreaker, GATEWAY)
    assert (row.window_calls, row.window_failures) == (4, 1)


def test_thresholds_of_zero_never_open_it(app: Flask, clock) -> None:
    app.config.update(BREAKER_FAILURES=0, BREAKER_MIN_CALLS=0)
    fail(50)
    assert state() == Shown.CLOSED


# --- the selector, the cool-down and the one probe ------------------------------------------


def test_open_it_is_shown_disabled_with_the_words_and_refused(app: Flask, clock) -> None:
    opened(clock)
    offer = selector(app)
    shown = option(offer)
    assert not shown.enabled and shown.disabled_reason == TEMPORARILY_UNAVAILABLE
    assert option(offer, "mpgs").enabled
    refused = offer.claim(GATEWAY, "attempt-1")
    assert refused is not None and not refused.enabled
    clock.advance(COOLDOWN - 1)
    assert state() == Shown.OPEN and not option(selector(app)).enabled


def test_after_the_cooldown_exactly_one_probe_goes_through(app: Flask, clock) -> None:
    opened(clock)
    clock.advance(COOLDOWN)
    assert state() == Shown.HALF_OPEN
    first, second = selector(app), selector(app)  # two shoppers' pages, both offering it
    assert option(first).enabled and option(second).enabled

    assert first.claim(GATEWAY, "probe").enabled
    refused = second.claim(GATEWAY, "other")
    assert not refused.enabled and refused.disabled_reason == TEMPORARILY_UNAVAILABLE
    assert not option(second).enabled  # the page rendered again shows it taken
    assert not option(selector(app)).enabled  # and so does a fresh page while it runs
    assert selector(app).claim(GATEWAY, "probe").enabled  # a double click of the probe


def test_continuing_a_started_payment_never_takes_the_probe(app: Flask, clock) -> None:
    """An attempt that creates nothing goes on half-open without claiming: while the probe is
    free, or when the probe is its own (the probe's double click); not past another's probe,
    and never while the breaker is open."""
    opened(clock)
    assert not selector(app).claim(GATEWAY, "started", creates=False).enabled
    clock.advance(COOLDOWN)
    assert selector(app).claim(GATEWAY, "started", creates=False).enabled
    assert option(selector(app)).enabled  # the probe is still free
    assert selector(app).claim(GATEWAY, "probe").enabled
    assert selector(app).claim(GATEWAY, "probe", creates=False).enabled
    assert not selector(app).claim(GATEWAY, "started", creates=False).enabled


def test_a_probe_whose_worker_died_is_given_up_after_its_lease(app: Flask, clock) -> None:
    opened(clock)
    clock.advance(COOLDOWN)
    assert selector(app).claim(GATEWAY, "dead probe").enabled
    clock.advance(LEASE - 1)
    assert not selector(app).claim(GATEWAY, "next").enabled
    clock.advance(1)
    assert option(selector(app)).enabled
    assert selector(app).claim(GATEWAY, "next").enabled
    breaker.record(GATEWAY, Result.OK, "dead probe")  # too late: not the probe any more
    assert state() == Shown.HALF_OPEN


def test_the_probe_succeeding_closes_it_with_counts_afresh(app: Flask, clock) -> None:
    opened(clock)
    clock.advance(COOLDOWN)
    assert selector(app).claim(GATEWAY, "probe").enabled
    breaker.record(GATEWAY, Result.OK, "probe")
    assert state() == Shown.CLOSED
    assert option(selector(app)).enabled
    row = db.session.get(GatewayBreaker, GATEWAY)
    assert (row.consecutive_failures, row.window_calls, row.probe_token) == (0, 0, None)
    fail(2)
    assert state() == Shown.CLOSED


def test_the_probe_failing_reopens_it_for_a_fresh_cooldown(app: Flask, clock) -> None:
    opened(clock)
    clock.advance(COOLDOWN + 5)
    assert selector(app).claim(GATEWAY, "probe").enabled
    breaker.record(GATEWAY, Result.FAILURE, "probe")
    assert state() == Shown.OPEN
    clock.advance(COOLDOWN - 1)
    assert state() == Shown.OPEN
    clock.advance(1)
    assert state() == Shown.HALF_OPEN
    assert selector(app).claim(GATEWAY, "another probe").enabled


def test_a_probe_that_learnt_nothing_lets_the_next_attempt_probe(app: Flask, clock) -> None:
    opened(clock)
    clock.advance(COOLDOWN)
    assert selector(app).claim(GATEWAY, "probe").enabled
    breaker.record(GATEWAY, Result.IGNORED, "probe")  # e.g. the gateway refused the amount
    assert state() == Shown.HALF_OPEN
    assert selector(app).claim(GATEWAY, "next").enabled


def test_only_the_probe_closes_an_open_breaker(app: Flask, clock) -> None:
    opened(clock)
    succeed()  # a create that started before it opened
    assert state() == Shown.OPEN


# --- staff overrides ----------------------------------------------------------------------


def test_forced_off_shows_staffs_reason_and_refuses(app: Flask, clock) -> None:
    breaker.force(GATEWAY, "off", "Stripe maintenance until 14:00 UTC", "admin@tollgate.test")
    assert state() == Shown.FORCED_OFF
    offer = selector(app)
    assert option(offer).disabled_reason == "Stripe maintenance until 14:00 UTC"
    assert not offer.claim(GATEWAY, "attempt").enabled
    breaker.force(GATEWAY, None, "maintenance over", "admin@tollgate.test")
    assert state() == Shown.CLOSED and option(selector(app)).enabled


def test_forced_on_overrides_an_open_breaker_until_staff_let_go(app: Flask, clock) -> None:
    opened(clock)
    breaker.force(GATEWAY, "on", "their status page says all good", "admin@tollgate.test")
    assert state() == Shown.FORCED_ON
    offer = selector(app)
    assert option(offer).enabled and offer.claim(GATEWAY, "a").enabled
    assert selector(app).claim(GATEWAY, "b").enabled  # no probe: everyone goes through
    breaker.force(GATEWAY, None, "back to automatic", "admin@tollgate.test")
    assert state() == Shown.OPEN


def test_a_gateway_the_configuration_disabled_keeps_its_own_reason(app: Flask, clock) -> None:
    app.config["GATEWAY_STRIPE_ENABLED"] = False
    app.config["GATEWAY_STRIPE_DISABLED_REASON"] = "Switched off by the shop"
    breaker.force(GATEWAY, "on", "forcing on does not switch config back on", "a@tollgate.test")
    assert option(selector(app)).disabled_reason == "Switched off by the shop"


def test_one_query_reads_every_breaker_for_a_page(app: Flask, clock) -> None:
    opened(clock)
    breaker.force("mpgs", "off", "down", "a@tollgate.test")
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        selector(app)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "gateway_breakers" in statements[0]


def test_beside_a_pages_row_reads_every_breaker_in_the_same_statement(
    app: Flask, clock, make_product
) -> None:
    product = make_product()
    slug, name = product.slug, product.name
    page = breaker.beside(select(Product.slug, Product.name).filter_by(slug=bindparam("slug")))

    assert breaker.split(read_all(page, {"slug": slug}), 2) == ((slug, name), {})  # no rows yet
    opened(clock)
    breaker.force("mpgs", "off", "down", "a@tollgate.test")
    own, rows = breaker.split(read_all(page, {"slug": slug}), 2)
    assert own == (slug, name)
    assert rows == breaker.read() and set(rows) == {GATEWAY, "mpgs"}
    assert rows["mpgs"].forced_reason == "down"
    assert read_all(page, {"slug": "no-such-plan"}) == []


# --- through open_checkout, and what the breaker never blocks --------------------------------


def test_creates_that_fail_in_transit_open_it_and_rejected_ones_do_not(
    app: Flask, sandbox: Sandbox
) -> None:
    for _ in range(3):
        force_answer(sandbox, 400, {"result": "ERROR", "error": {"cause": "INVALID_REQUEST"}})
        with pytest.raises(GatewayRejected):
            open_payments(app, "mpgs", 1)
    force_answer(sandbox, 401, {"result": "ERROR", "error": {"cause": "INVALID_REQUEST"}})
    with pytest.raises(GatewayConfigError):
        open_payments(app, "mpgs", 1)
    assert state("mpgs") == Shown.CLOSED

    sandbox.knobs("mpgs", error_rate=1.0)
    for _ in range(3):
        with pytest.raises(GatewayUnavailable):
            open_payments(app, "mpgs", 1)
    assert state("mpgs") == Shown.OPEN


def test_an_open_breaker_never_blocks_a_refresh(app: Flask, sandbox: Sandbox, clock) -> None:
    [ref] = open_payments(app, "mpgs", 1)
    fail(3, "mpgs")
    assert state("mpgs") == Shown.OPEN
    asked = len(sandbox_get(sandbox, "/_sandbox/mpgs/requests").json())
    payment = db.session.scalar(db.select(Payment).filter_by(ref=ref))
    outcome = refresh(payment, Source.POLL)
    assert outcome.error is None and outcome.new_status == PaymentStatus.PENDING
    assert len(sandbox_get(sandbox, "/_sandbox/mpgs/requests").json()) == asked + 1


def test_neither_an_open_nor_a_forced_off_breaker_blocks_the_sweep(
    app: Flask, sandbox: Sandbox, clock
) -> None:
    [ref] = open_payments(app, GATEWAY, 1)
    opened(clock)
    breaker.force(GATEWAY, "off", "down for maintenance", "admin@tollgate.test")
    pay_ref(sandbox, ref)
    due_now()
    run = sweep_pending("test")
    assert run.checked == 1
    assert payment(ref).status == PaymentStatus.COMPLETED


def test_a_breaker_that_cannot_be_written_never_fails_the_checkout(
    app: Flask, sandbox: Sandbox, caplog
) -> None:
    GatewayBreaker.__table__.drop(db.engine)  # the database refuses every breaker write
    [ref] = open_payments(app, GATEWAY, 1)
    payment = db.session.scalar(db.select(Payment).filter_by(ref=ref))
    assert payment.status == PaymentStatus.PENDING and payment.checkout_url
    assert any("could not record a create" in r.getMessage() for r in caplog.records)
