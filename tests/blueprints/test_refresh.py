"""`/status/<ref>/refresh`, `/return`, `/cancel`, `/timeout`: coalesced and rate-limited for
shoppers; staff reach the gateway."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from checkout.blueprints.status import RETURN_NOTES_KEPT
from checkout.extensions import db
from checkout.models import StaffUser
from tests.blueprints.html_helpers import parse, read_form
from tests.conftest import Sandbox
from tests.reconciliation import (
    GatewayCalls,
    checked_ago,
    completions,
    events,
    open_payments,
    pay_ref,
    payment,
    quiet,
)


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


@pytest.mark.parametrize("gateway", ["coinpayments", "mpgs", "stripe"])
def test_a_refresh_storm_makes_one_gateway_call(
    app: Flask, sandbox: Sandbox, gateway: str, fulfilments: list
) -> None:
    [ref] = open_payments(app, gateway, 1)
    with app.app_context():
        pay_ref(sandbox, ref)
        checked_ago(ref, 60)
    calls = GatewayCalls().watch(app, gateway)
    sandbox.knobs(gateway, latency_ms=50)  # the first call is still in flight as the rest arrive
    start = threading.Barrier(24)
    codes: list[int] = []

    def tab(n: int) -> None:
        client = app.test_client()
        start.wait()
        url = f"/status/{ref}/refresh" if n % 2 else f"/status/{ref}.json"
        codes.append(client.get(url, environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}).status_code)

    threads = [threading.Thread(target=tab, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(set(codes)) == [200, 303] and len(codes) == 24
    assert calls.calls[gateway] == 1
    with app.app_context():
        assert payment(ref).status == "COMPLETED"
        [event] = completions(ref)
        assert event.source == "poll"
    assert len(fulfilments) == 1


def test_after_the_window_a_refresh_asks_again(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "stripe", 1)
    calls = GatewayCalls().watch(app, "stripe")
    client = app.test_client()
    with app.app_context():
        checked_ago(ref, 60)
    for _ in range(3):
        assert client.get(f"/status/{ref}/refresh").headers["Location"] == f"/status/{ref}"
    assert calls.calls["stripe"] == 1
    with app.app_context():
        checked_ago(ref, app.config["REFRESH_COALESCE_SECONDS"] + 1)
    client.get(f"/status/{ref}/refresh")
    assert calls.calls["stripe"] == 2


def test_shopper_refresh_is_rate_limited(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "mpgs", 1)
    client = app.test_client()
    codes = [client.get(f"/status/{ref}/refresh").status_code for _ in range(31)]
    assert codes == [303] * 30 + [429]
    other = client.get(f"/status/{ref}/refresh", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 303  # per address


def test_final_payments_are_not_looked_up_by_shoppers(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "stripe", 1)
    with app.app_context():
        checked_ago(ref, 3600, status="EXPIRED")
    calls = GatewayCalls().watch(app, "stripe")
    app.test_client().get(f"/status/{ref}/refresh")
    assert calls.total == 0


def test_staff_pasting_the_url_always_reach_the_gateway(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    with app.app_context():
        user = StaffUser(email="agent@tollgate.test")
        user.set_password("correct horse battery staple")
        db.session.add(user)
        db.session.commit()
    client = app.test_client()
    login = read_form(parse(client.get("/staff/login").data).find("form", action="/staff/login"))
    login.fill("email", "agent@tollgate.test").fill("password", "correct horse battery staple")
    assert login.submit(client).status_code == 303
    calls = GatewayCalls().watch(app, "coinpayments")
    for _ in range(35):  # within the coalesce window and past the shoppers' rate limit
        answer = client.get(f"/status/{ref}/refresh")
        assert answer.status_code == 303
        assert answer.headers["Location"] == f"/staff/payments/{ref}"
    assert calls.calls["coinpayments"] == 35
    with app.app_context():
        pay_ref(sandbox, ref)
    client.get(f"/status/{ref}/refresh")
    page = client.get(f"/staff/payments/{ref}").text
    assert 'data-testid="last-raw"' in page and "COMPLETED" in page
    with app.app_context():
        [event] = completions(ref)
        assert event.source == "staff"
        assert events(ref, kind="error") == []


def _notes(ref: str) -> list[str]:
    return [e.message for e in events(ref) if e.kind == "note"]


@pytest.mark.parametrize("back", ["return", "cancel", "timeout"])
def test_coming_back_again_and_again_makes_one_look_up_and_one_note(
    app: Flask, sandbox: Sandbox, back: str
) -> None:
    [ref] = open_payments(app, "stripe", 1)
    with app.app_context():
        checked_ago(ref, 60)
    calls = GatewayCalls().watch(app, "stripe")
    client = app.test_client()
    codes = [client.get(f"/status/{ref}/{back}").status_code for _ in range(20)]
    assert codes == [303] * 20
    assert calls.calls["stripe"] == 1
    with app.app_context():
        assert len(_notes(ref)) == 1
        checked_ago(ref, 60)
    client.get(f"/status/{ref}/{back}")
    assert calls.calls["stripe"] == (1 if back == "return" else 2)  # returns: own window
    with app.app_context():
        assert len(_notes(ref)) == 1


def test_a_return_asks_the_gateway_even_right_after_a_poll(app: Flask, sandbox: Sandbox) -> None:
    """The shopper may have paid a second after the status page's last poll."""
    [ref] = open_payments(app, "stripe", 1)
    calls = GatewayCalls().watch(app, "stripe")
    with app.app_context():
        checked_ago(ref, 1)
    client = app.test_client()
    client.get(f"/status/{ref}/return")
    client.get(f"/status/{ref}/refresh")
    assert calls.calls["stripe"] == 1


def test_replayed_returns_with_changing_queries_keep_few_notes(
    app: Flask, sandbox: Sandbox
) -> None:
    [ref] = open_payments(app, "stripe", 1)
    client = app.test_client()
    for n in range(RETURN_NOTES_KEPT + 5):
        address = {"REMOTE_ADDR": f"10.1.0.{n}"}
        client.get(f"/status/{ref}/return?session_id=cs_forged_{n}", environ_base=address)
    with app.app_context():
        assert len(_notes(ref)) == RETURN_NOTES_KEPT


@pytest.mark.parametrize("back", ["return", "cancel", "timeout"])
def test_coming_back_is_rate_limited_per_address(app: Flask, sandbox: Sandbox, back: str) -> None:
    [ref] = open_payments(app, "mpgs", 1)
    client = app.test_client()
    codes = [client.get(f"/status/{ref}/{back}").status_code for _ in range(31)]
    assert codes == [303] * 30 + [429]
    other = client.get(f"/status/{ref}/{back}", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 303
