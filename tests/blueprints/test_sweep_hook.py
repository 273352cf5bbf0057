"""`POST /status/sweep`: the cron URL runs the sweep only with the right bearer token."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from checkout.extensions import db
from checkout.models import SweepRun
from tests.conftest import Sandbox, make_test_app
from tests.reconciliation import GatewayCalls, due_now, open_payments, pay_ref, payment, quiet

TOKEN = "s3cret-sweep-token-for-tests"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"SWEEP_TOKEN": TOKEN}


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


def test_the_right_token_runs_the_sweep_and_answers_its_summary(
    app: Flask, paid: str, fulfilments: list
) -> None:
    answer = app.test_client().post("/status/sweep", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    body = answer.json
    assert body["trigger"] == "url"
    assert (body["checked"], body["changed"], body["errors"], body["gateway_calls"]) == (1, 1, 0, 1)
    assert body["details"]["gateways"]["coinpayments"]["changed"] == 1
    with app.app_context():
        assert payment(paid).status == "COMPLETED"
        [run] = db.session.query(SweepRun).all()
        assert run.id == body["id"] and run.finished_at is not None
    assert len(fulfilments) == 1


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
    answer = guarded.test_client().post(
        "/status/sweep", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 200 and answer.json["checked"] == 0
    with guarded.app_context():
        db.engine.dispose()
