"""`flask payments sweep` and `flask staff create`."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from checkout.extensions import db
from checkout.models import Product, StaffRole, StaffUser, SweepRun
from tests.conftest import Sandbox
from tests.reconciliation import GatewayCalls, due_now, open_payments, pay_ref, payment, quiet


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


def test_payments_sweep_shows_progress_and_a_summary_table(
    app: Flask, sandbox: Sandbox, fulfilments: list
) -> None:
    cp = open_payments(app, "coinpayments", 3)
    [mp] = open_payments(app, "mpgs", 1)
    with app.app_context():
        pay_ref(sandbox, cp[0])
        due_now()
    result = app.test_cli_runner().invoke(args=["payments", "sweep"])
    assert result.exit_code == 0, result.output
    assert "sweeping 4 due payments" in result.stderr
    lines = result.stdout.splitlines()
    assert "4 checked, 1 changed, 0 expired, 0 errors, 2 gateway calls" in lines[0]
    header = lines[1].split()
    assert header == ["gateway", "checked", "changed", "expired", "cancelled", "errors", "calls"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:5]}
    assert rows == {
        "coinpayments": ["3", "1", "0", "0", "0", "1"],
        "mpgs": ["1", "0", "0", "0", "0", "1"],
    }
    with app.app_context():
        assert payment(cp[0]).status == "COMPLETED" and payment(mp).status == "PENDING"
        [run] = db.session.query(SweepRun).all()
        assert run.trigger == "cli"
    assert len(fulfilments) == 1


def test_payments_sweep_options(app: Flask, sandbox: Sandbox) -> None:
    [cp] = open_payments(app, "coinpayments", 1)
    [mp] = open_payments(app, "mpgs", 1)
    calls = GatewayCalls().watch(app)
    with app.app_context():
        due_now()
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["payments", "sweep", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: 2 payments due in the last 48.0 hours" in dry.stdout
    assert calls.total == 0

    only = runner.invoke(args=["payments", "sweep", "--gateway", "mpgs", "--hours", "2"])
    assert only.exit_code == 0, only.output
    assert "1 checked" in only.stdout
    assert calls.calls == {"mpgs": 1}
    with app.app_context():
        assert db.session.query(SweepRun).one().details["window_hours"] == 2.0
        assert payment(mp).failure_count == 0 and payment(cp).version == 1

    for bad in (["--gateway", "paypal"], ["--hours", "0"]):
        result = runner.invoke(args=["payments", "sweep", *bad])
        assert result.exit_code == 2
    assert calls.calls == {"mpgs": 1}


def test_payments_sweep_reports_errors_and_exits_cleanly(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "stripe", 1)
    sandbox.knobs("stripe", error_rate=1.0)
    with app.app_context():
        due_now()
    result = app.test_cli_runner().invoke(args=["payments", "sweep"])
    assert result.exit_code == 0
    assert "1 payments could not be checked; they will be retried (back-off)" in result.stdout
    with app.app_context():
        assert payment(ref).status == "PENDING" and payment(ref).failure_count == 1


def _staff(app: Flask) -> list[StaffUser]:
    with app.app_context():
        return list(db.session.query(StaffUser))


def test_staff_create_prompts_twice_and_hashes(app: Flask) -> None:
    runner = app.test_cli_runner()
    password = "a long enough passphrase"
    result = runner.invoke(
        args=["staff", "create", "Agent@Tollgate.test"], input=f"{password}\n{password}\n"
    )
    assert result.exit_code == 0, result.output
    assert password not in result.output  # hidden input
    [user] = _staff(app)
    assert user.email == "agent@tollgate.test" and user.active
    assert user.password_hash != password and user.check_password(password)

    again = runner.invoke(
        args=["staff", "create", "agent@tollgate.test", "--password-stdin"], input=f"{password}\n"
    )
    assert again.exit_code == 1 and "already has a staff account" in again.output
    assert len(_staff(app)) == 1


def test_staff_create_from_stdin_and_refusals(app: Flask) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(
        args=["staff", "create", "ops@tollgate.test", "--password-stdin"],
        input="from a secret manager 123\n",
    )
    assert ok.exit_code == 0, ok.output
    assert _staff(app)[0].check_password("from a secret manager 123")

    short = runner.invoke(
        args=["staff", "create", "short@tollgate.test", "--password-stdin"], input="hunter2\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    mismatch = runner.invoke(
        args=["staff", "create", "typo@tollgate.test"], input="first passphrase\nsecond one\n"
    )
    assert mismatch.exit_code == 1 and "do not match" in mismatch.output
    not_email = runner.invoke(args=["staff", "create", "agent", "--password-stdin"], input="x\n")
    assert not_email.exit_code == 2
    assert [u.email for u in _staff(app)] == ["ops@tollgate.test"]


def test_catalog_load_warns_about_prices_an_enabled_gateway_cannot_charge(
    app: Flask, tmp_path, caplog
) -> None:
    entry = {"name": "Plan", "region": "Testland", "data_mb": 1024, "validity_days": 7}
    catalogue = [
        {**entry, "slug": "kuwait", "price": "4.255", "currency": "KWD"},
        {**entry, "slug": "tiny", "price": "0.30", "currency": "USD"},
        {**entry, "slug": "iceland", "price": "500", "currency": "ISK"},
        {**entry, "slug": "hidden", "price": "0.30", "currency": "USD", "active": False},
    ]
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(catalogue), encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["catalog", "load", str(path)])

    assert result.exit_code == 0, result.output
    assert "catalogue: 4 created, 0 updated" in result.stdout
    assert result.stderr.splitlines() == [
        "warning: kuwait: Stripe cannot charge 4.255 KWD: amounts in KWD must be multiples "
        "of 0.010 KWD",
        "warning: kuwait: HyperPay COPYandPAY cannot charge 4.255 KWD: it counts KWD with at "
        "most 2 decimals",
        "warning: tiny: Stripe cannot charge 0.30 USD: its minimum is 0.50 USD",
    ]
    logged = [r.getMessage() for r in caplog.records if r.name == "checkout.catalog_loader"]
    assert logged == [
        "catalogue price of kuwait: Stripe cannot charge 4.255 KWD: amounts in KWD must be "
        "multiples of 0.010 KWD",
        "catalogue price of kuwait: HyperPay COPYandPAY cannot charge 4.255 KWD: it counts KWD "
        "with at most 2 decimals",
        "catalogue price of tiny: Stripe cannot charge 0.30 USD: its minimum is 0.50 USD",
    ]
    with app.app_context():
        assert db.session.scalar(db.select(Product).filter_by(slug="kuwait")).price == 4255


def test_staff_create_role_is_support_unless_admin_is_asked_for(app: Flask) -> None:
    runner = app.test_cli_runner()
    password = "a long enough passphrase\n"
    plain = runner.invoke(
        args=["staff", "create", "s@tollgate.test", "--password-stdin"], input=password
    )
    assert plain.exit_code == 0 and "support staff account created" in plain.output
    admin = runner.invoke(
        args=["staff", "create", "a@tollgate.test", "--role", "admin", "--password-stdin"],
        input=password,
    )
    assert admin.exit_code == 0 and "admin staff account created" in admin.output
    owner = runner.invoke(
        args=["staff", "create", "o@tollgate.test", "--role", "owner", "--password-stdin"],
        input=password,
    )
    assert owner.exit_code == 2
    assert {u.email: u.role for u in _staff(app)} == {
        "s@tollgate.test": StaffRole.SUPPORT,
        "a@tollgate.test": StaffRole.ADMIN,
    }
