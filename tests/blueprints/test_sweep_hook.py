"""`POST /status/sweep`: the cron URL starts the sweep only with the right bearer token, answers
202 at once and reports the run's progress at `GET /status/sweep/<id>`; a run killed half way
is marked aborted and its claims run out."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import Payment, SweepRun, utcnow
from checkout.payments.sweep import sweep_pending
from checkout.payments.sweep_claims import claimed_pages, owner_id
from checkout.payments.sweep_scope import scope_for
from tests.conftest import Sandbox, make_test_app
from tests.reconciliation import (
    GatewayCalls,
    due_now,
    follow_sweep,
    open_payments,
    pay_ref,
    payment,
    quiet,
)

TOKEN = "s3cret-sweep-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TOTAL = 1.0  # GATEWAY_TOTAL_SECONDS
HANG_SECONDS = 5 * TOTAL  # a gateway that hangs this long
LEASE = 300  # SWEEP_LEASE_SECONDS


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"SWEEP_TOKEN": TOKEN, "GATEWAY_TOTAL_SECONDS": TOTAL, "SWEEP_LEASE_SECONDS": LEASE}


def _wait_for_the_end(client: FlaskClient, location: str) -> dict[str, Any]:
    """Every gateway call of the run is over within GATEWAY_TOTAL_SECONDS, so a handful of
    payments take a few of those at most; the bound only keeps a broken run from hanging."""
    return follow_sweep(client, location, AUTH, give_up_after=60 * TOTAL)


@pytest.fixture
def paid(app: Flask, sandbox: Sandbox) -> str:
    quiet(sandbox)
    [ref] = open_payments(app, "coinpayments", 1)
    with app.app_context():
        pay_ref(sandbox, ref)
        due_now()
    return ref


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer wrong-token",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        f"{TOKEN}",
        "Bearer ",
    ],
)
def test_without_the_right_token_nothing_runs(app: Flask, paid: str, header: str | None) -> None:
    calls = GatewayCalls().watch(app)
    headers = {"Authorization": header} if header is not None else {}
    answer = app.test_client().post("/status/sweep", headers=headers)
    assert answer.status_code == 401
    assert answer.json["error"] == "unauthorised"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert calls.total == 0
    with app.app_context():
        assert db.session.query(SweepRun).count() == 0
        assert payment(paid).status == "PENDING"


def test_no_token_configured_means_the_url_is_off(sandbox: Sandbox, tmp_path: Any) -> None:
    off = make_test_app(sandbox.url, f"sqlite:///{tmp_path / 'off.sqlite3'}", SWEEP_TOKEN="")
    with off.app_context():
        db.create_all()
    for header in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
        assert off.test_client().post("/status/sweep", headers=header).status_code == 401
    with off.app_context():
        assert db.session.query(SweepRun).count() == 0
        db.engine.dispose()


def test_the_right_token_starts_the_sweep_and_its_progress_url_reports_it(
    app: Flask, paid: str, fulfilments: list
) -> None:
    client = app.test_client()
    answer = client.post("/status/sweep", headers=AUTH)
    assert answer.status_code == 202
    started = answer.json
    assert started["trigger"] == "url" and started["state"] == "running"
    assert answer.headers["Location"].endswith(f"/status/sweep/{started['id']}")

    body = _wait_for_the_end(client, answer.headers["Location"])
    assert body["state"] == "finished" and body["id"] == started["id"]
    assert (body["checked"], body["changed"], body["errors"], body["gateway_calls"]) == (1, 1, 0, 1)
    assert body["details"]["gateways"]["coinpayments"]["changed"] == 1
    with app.app_context():
        assert payment(paid).status == "COMPLETED"
        [run] = db.session.query(SweepRun).all()
        assert run.id == body["id"] and run.finished_at is not None
    assert len(fulfilments) == 1


def test_a_hanging_gateway_does_not_hold_the_cron_request(
    app: Flask, sandbox: Sandbox, paid: str
) -> None:
    sandbox.knobs("coinpayments", timeout_rate=1.0, hang_seconds=HANG_SECONDS)
    client = app.test_client()
    began = time.monotonic()
    answer = client.post("/status/sweep", headers=AUTH)
    took = time.monotonic() - began
    assert answer.status_code == 202
    assert took < HANG_SECONDS, f"the cron request waited {took:.1f}s for the gateway"

    body = _wait_for_the_end(client, answer.headers["Location"])
    assert body["state"] == "finished"
    assert (body["checked"], body["changed"], body["errors"]) == (1, 0, 1)
    with app.app_context():
        assert payment(paid).status == "PENDING"  # backed off, claim released
        assert payment(paid).claimed_until is None


def test_the_progress_url_needs_the_token_and_a_known_run(app: Flask) -> None:
    client = app.test_client()
    with app.app_context():
        run = SweepRun(trigger="test", started_at=utcnow())
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    assert client.get(f"/status/sweep/{run_id}").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get(f"/status/sweep/{run_id}", headers=wrong).status_code == 401
    assert client.get(f"/status/sweep/{run_id + 1}", headers=AUTH).status_code == 404
    fresh = client.get(f"/status/sweep/{run_id}", headers=AUTH).json
    assert fresh["state"] == "running" and fresh["finished_at"] is None


def _stale_run(minutes_past_lease: float = 1) -> int:
    """A SweepRun row as a killed run leaves it: started, never finished, silent."""
    started = utcnow() - timedelta(seconds=LEASE) - timedelta(minutes=minutes_past_lease)
    run = SweepRun(trigger="url", started_at=started, details={"state": "running"})
    db.session.add(run)
    db.session.commit()
    return run.id


def test_a_stale_running_run_reads_as_aborted(app: Flask) -> None:
    with app.app_context():
        stale = _stale_run()
    body = app.test_client().get(f"/status/sweep/{stale}", headers=AUTH).json
    assert body["state"] == "aborted" and body["finished_at"] is not None
    with app.app_context():
        row = db.session.get(SweepRun, stale)
        assert row.finished_at is not None and row.details["state"] == "aborted"


def test_a_new_sweep_marks_stale_runs_aborted_and_leaves_live_ones(app: Flask) -> None:
    with app.app_context():
        stale = _stale_run()
        live = SweepRun(trigger="cli", started_at=utcnow() - timedelta(seconds=LEASE / 2))
        db.session.add(live)
        db.session.commit()
        live_id = live.id
        sweep_pending("test")
        assert db.session.get(SweepRun, stale).details["state"] == "aborted"
        assert db.session.get(SweepRun, live_id).finished_at is None


def test_a_run_killed_half_way_holds_no_payment_past_its_lease(
    app: Flask, sandbox: Sandbox, paid: str
) -> None:
    with app.app_context():
        killed = _stale_run(minutes_past_lease=0)  # its row, silent for a lease by now
        # the killed run claimed its first page, then died before polling or releasing it
        scope = scope_for(app, None, None, utcnow())
        claimed_at = utcnow()
        page = next(claimed_pages(app, scope, owner_id(), "coinpayments"))
        held = db.session.get(Payment, page[0])
        assert held.ref == paid
        assert held.claimed_until <= claimed_at + timedelta(seconds=LEASE, milliseconds=100)

        # within the lease another sweep leaves the payment alone
        assert sweep_pending("test").checked == 0
        assert payment(paid).status == "PENDING"

        # once the lease has run out (moved into the past instead of waiting for it)
        db.session.execute(
            db.update(Payment)
            .where(Payment.id == held.id)
            .values(claimed_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        after = sweep_pending("test")
        assert (after.checked, after.changed) == (1, 1)
        assert payment(paid).status == "COMPLETED" and payment(paid).claimed_until is None
        assert db.session.get(SweepRun, killed).details["state"] == "aborted"


def test_only_post_runs_it(app: Flask, paid: str) -> None:
    calls = GatewayCalls().watch(app)
    answer = app.test_client().get("/status/sweep", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code in (404, 405)
    assert calls.total == 0


def test_csrf_does_not_get_in_the_way_of_cron(sandbox: Sandbox, tmp_path: Any) -> None:
    guarded = make_test_app(
        sandbox.url, f"sqlite:///{tmp_path / 'csrf.sqlite3'}", SWEEP_TOKEN=TOKEN
    )
    guarded.config["WTF_CSRF_ENABLED"] = True
    with guarded.app_context():
        db.create_all()
    client = guarded.test_client()
    answer = client.post("/status/sweep", headers=AUTH)
    assert answer.status_code == 202
    assert _wait_for_the_end(client, answer.headers["Location"])["checked"] == 0
    with guarded.app_context():
        db.engine.dispose()
