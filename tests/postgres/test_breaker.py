"""The breaker's conditional UPDATEs on PostgreSQL (the production database), under real
concurrency: threads with their own sessions count every outcome without losing one, create a
gateway's row at the same moment without an error, open it once, and exactly one of them claims
the half-open probe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from checkout.extensions import db
from checkout.gateways.registry import gateway_options
from checkout.models import GatewayBreaker
from checkout.payments import breaker
from checkout.payments.breaker import Result, Shown
from tests.blueprints.html_helpers import parse
from tests.payments.test_breaker import Clock, breaker_clock

THREADS = 8


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"BREAKER_FAILURES": 0, "BREAKER_MIN_CALLS": 0, "BREAKER_COOLDOWN_SECONDS": 30}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return breaker_clock(monkeypatch)


def at_once(app: Flask, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(n)` in THREADS threads, each in its own app context (its own session)."""
    results: list[Any] = [None] * THREADS
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                results[n] = work(n)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    return results


def row(app: Flask, gateway: str = "stripe") -> GatewayBreaker:
    with app.app_context():
        found = db.session.get(GatewayBreaker, gateway)
        assert found is not None
        db.session.expunge(found)
        return found


def test_concurrent_outcomes_create_the_row_once_and_lose_no_count(app: Flask, clock) -> None:
    def record(n: int) -> None:
        for i in range(25):
            result = Result.FAILURE if (n + i) % 2 else Result.OK
            breaker.record("stripe", result, f"attempt-{n}-{i}")

    at_once(app, record)
    counted = row(app)
    assert (counted.window_calls, counted.window_failures) == (200, 100)
    assert counted.state == "closed"


def test_a_storm_of_failures_opens_it_once(app: Flask, clock, caplog) -> None:
    app.config.update(BREAKER_FAILURES=5)
    at_once(app, lambda n: [breaker.record("stripe", Result.FAILURE, None) for _ in range(10)])
    assert row(app).state == "open" and row(app).consecutive_failures == 80
    opened = [r for r in caplog.records if "breaker opened" in r.getMessage()]
    assert len(opened) == 1


def test_exactly_one_of_many_attempts_claims_the_probe(app: Flask, clock) -> None:
    app.config.update(BREAKER_FAILURES=3)
    with app.app_context():
        for _ in range(3):
            breaker.record("stripe", Result.FAILURE, None)
        assert breaker.snapshot()["stripe"] == Shown.OPEN
    clock.advance(30)

    def claim(n: int) -> bool:
        return breaker.offer(gateway_options(app.config)).claim("stripe", f"attempt-{n}").enabled

    claimed = at_once(app, claim)
    assert claimed.count(True) == 1
    winner = f"attempt-{claimed.index(True)}"
    assert row(app).probe_token == winner
    with app.app_context():
        breaker.record("stripe", Result.OK, winner)
        assert breaker.snapshot()["stripe"] == Shown.CLOSED


def test_the_checkout_page_reads_its_plan_and_every_breaker_in_one_select(
    client: FlaskClient, make_product, clock: Clock
) -> None:
    """The page's one SELECT (breaker.beside: a LEFT JOIN on true) on PostgreSQL: no breaker row
    yet, then a forced-off row and a closed one, both shown as the selector reads them."""
    url = f"/checkout/{make_product().slug}"
    assert not parse(client.get(url).data).by_id("gateway-stripe").has("disabled")
    breaker.force("stripe", "off", "Paused for the bank holiday", "a@tollgate.test")
    breaker.record("mpgs", Result.OK)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    page = parse(response.data)
    assert response.status_code == 200 and len(statements) == 1
    assert page.by_id("gateway-stripe").has("disabled")
    assert "Paused for the bank holiday" in page.by_id("gateway-stripe-reason").text
    assert not page.by_id("gateway-mpgs").has("disabled")
    assert client.get("/checkout/no-such-plan").status_code == 404
