"""The staff console: login, search, the payment page, Refresh and Refund, against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from checkout.extensions import db
from checkout.models import Order, Payment, PaymentEvent, StaffUser
from tests.conftest import Sandbox, make_test_app
from tests.reconciliation import GatewayCalls, open_payments, pay_ref, payment, quiet

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


@pytest.fixture
def staff(app: Flask) -> str:
    with app.app_context():
        user = StaffUser(email="agent@tollgate.test")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.email


def login(client: FlaskClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post("/staff/login", data={"email": email, "password": password, **extra})


@pytest.fixture
def staff_client(client: FlaskClient, staff: str) -> FlaskClient:
    assert login(client, staff).status_code == 303
    return client


def test_everything_but_the_login_page_needs_a_login(app: Flask, client: FlaskClient) -> None:
    [ref] = open_payments(app, "stripe", 1)
    calls = GatewayCalls().watch(app)
    for method, path in [
        ("get", "/staff/"),
        ("get", f"/staff/payments/{ref}"),
        ("post", f"/staff/payments/{ref}/refresh"),
        ("post", f"/staff/payments/{ref}/refund"),
        ("post", "/staff/logout"),
    ]:
        answer = getattr(client, method)(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/staff/login?next="), path
    assert client.get("/staff/login").status_code == 200
    assert calls.total == 0
    with app.app_context():
        assert db.session.query(PaymentEvent).filter_by(source="staff").count() == 0


def test_login_logout_and_the_same_answer_for_unknown_and_wrong(
    app: Flask, client: FlaskClient, staff: str
) -> None:
    wrong = login(client, staff, "not the password")
    unknown = login(client, "nobody@tollgate.test")
    assert wrong.status_code == unknown.status_code == 401
    assert b"do not match an active staff account" in wrong.data
    assert wrong.data.replace(staff.encode(), b"") == unknown.data.replace(
        b"nobody@tollgate.test", b""
    )
    assert client.get("/staff/").status_code == 302

    ok = login(client, staff.upper())  # e-mails are matched case-insensitively
    assert ok.status_code == 303 and ok.headers["Location"] == "/staff/"
    page = client.get("/staff/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert staff.encode() in page.data

    assert client.post("/staff/logout").status_code == 303
    assert client.get("/staff/").status_code == 302


def test_inactive_accounts_cannot_log_in(app: Flask, client: FlaskClient, staff: str) -> None:
    with app.app_context():
        db.session.execute(update(StaffUser).values(active=False))
        db.session.commit()
    assert login(client, staff).status_code == 401


def test_login_starts_a_fresh_session(client: FlaskClient, staff: str) -> None:
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    login(client, staff)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"]


def test_login_and_logout_keep_the_shoppers_orders_in_this_browser(
    client: FlaskClient, staff: str
) -> None:
    shopper = {"orders": ["ord_mine"], "checkout_attempt": {"token": "t" * 32, "order": "ord_mine"}}
    with client.session_transaction() as session:
        session.update(shopper)
    login(client, staff)
    with client.session_transaction() as session:
        assert session["_user_id"]
        assert {key: session[key] for key in shopper} == shopper
    assert client.post("/staff/logout").status_code == 303
    with client.session_transaction() as session:
        assert "_user_id" not in session
        assert dict(session) == shopper


@pytest.mark.parametrize(
    ("target", "lands"),
    [
        ("/staff/payments/pay_x", "/staff/payments/pay_x"),
        ("//evil.example/login", "/staff/"),
        ("https://evil.example/", "/staff/"),
        ("/\\evil.example", "/staff/"),
    ],
)
def test_login_only_redirects_within_the_site(
    client: FlaskClient, staff: str, target: str, lands: str
) -> None:
    assert login(client, staff, next=target).headers["Location"] == lands


def test_login_attempts_are_rate_limited_per_account(client: FlaskClient, staff: str) -> None:
    codes = [login(client, staff, "guess").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    assert login(client, staff).status_code == 429  # the right password waits too


def test_session_cookie_is_hardened(client: FlaskClient, staff: str) -> None:
    answer = login(client, staff)
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_form_needs_its_csrf_token(sandbox: Sandbox, tmp_path: Any) -> None:
    guarded = make_test_app(sandbox.url, f"sqlite:///{tmp_path / 'csrf.sqlite3'}")
    guarded.config["WTF_CSRF_ENABLED"] = True
    with guarded.app_context():
        db.create_all()
        user = StaffUser(email="agent@tollgate.test")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    client = guarded.test_client()
    answer = login(client, "agent@tollgate.test")
    assert answer.status_code == 400
    assert client.get("/staff/").status_code == 302  # not logged in
    with guarded.app_context():
        db.engine.dispose()


def test_search_by_each_kind_of_reference(app: Flask, staff_client: FlaskClient) -> None:
    first, second, other = open_payments(app, "coinpayments", 3)
    with app.app_context():
        one = payment(first)
        db.session.execute(
            update(Order)
            .where(Order.id == payment(other).order_id)
            .values(email="Someone.Else@Example.com")
        )
        db.session.commit()
        one_order, one_gateway = one.order.ref, one.gateway_reference
    for query in (first, one_order, one_gateway):
        page = staff_client.get("/staff/", query_string={"q": query}).text
        assert first in page and second not in page and other not in page, query
    page = staff_client.get("/staff/", query_string={"q": "someone.else@example.COM"}).text
    assert other in page and first not in page
    page = staff_client.get("/staff/", query_string={"q": "shopper@example.com"}).text
    assert other not in page
    assert page.index(second) < page.index(first)  # newest first
    miss = staff_client.get("/staff/", query_string={"q": "pay_nothing"})
    assert b"No payment has that ref" in miss.data


def test_payment_page_shows_facts_timeline_and_the_raw_answer_without_secrets(
    app: Flask, sandbox: Sandbox, staff_client: FlaskClient
) -> None:
    [ref] = open_payments(app, "mpgs", 1)
    with app.app_context():
        secret = payment(ref).gateway_secret
        db.session.execute(
            update(Payment)
            .where(Payment.ref == ref)
            .values(needs_review=True, review_reason="gateway holds 1.00 USD: amount mismatch")
        )
        db.session.commit()
    assert secret
    page = staff_client.get(f"/staff/payments/{ref}").get_data(as_text=True)
    assert "Needs review" in page and "amount mismatch" in page
    assert "CREATED → PENDING" in page  # the timeline
    assert 'data-testid="last-raw"' in page
    assert secret not in page


def test_refresh_button_always_asks_the_gateway(
    app: Flask, sandbox: Sandbox, staff_client: FlaskClient, fulfilments: list
) -> None:
    [ref] = open_payments(app, "stripe", 1)
    calls = GatewayCalls().watch(app)
    first = staff_client.post(f"/staff/payments/{ref}/refresh")
    assert first.status_code == 303 and first.headers["Location"] == f"/staff/payments/{ref}"
    with app.app_context():
        pay_ref(sandbox, ref)
    staff_client.post(f"/staff/payments/{ref}/refresh")  # inside the shoppers' coalesce window
    assert calls.calls["stripe"] == 2
    page = staff_client.get(f"/staff/payments/{ref}").get_data(as_text=True)
    assert "The gateway says COMPLETED" in page
    with app.app_context():
        row = payment(ref)
        assert row.status == "COMPLETED"
        [event] = [e for e in row.events if e.new_status == "COMPLETED" and e.kind == "transition"]
        assert event.source == "staff"
    assert len(fulfilments) == 1


def test_refresh_with_the_gateway_down_says_so_and_changes_nothing(
    app: Flask, sandbox: Sandbox, staff_client: FlaskClient
) -> None:
    [ref] = open_payments(app, "mpgs", 1)
    sandbox.knobs("mpgs", error_rate=1.0)
    staff_client.post(f"/staff/payments/{ref}/refresh")
    page = staff_client.get(f"/staff/payments/{ref}").get_data(as_text=True)
    assert "could not be asked" in page
    with app.app_context():
        row = payment(ref)
        assert row.status == "PENDING" and row.failure_count == 1


def test_refund_form_full_partial_and_refusals(
    app: Flask, sandbox: Sandbox, staff_client: FlaskClient
) -> None:
    [ref] = open_payments(app, "stripe", 1, price=2000)
    with app.app_context():
        pay_ref(sandbox, ref)
    staff_client.post(f"/staff/payments/{ref}/refresh")

    too_precise = staff_client.post(f"/staff/payments/{ref}/refund", data={"amount": "1.005"})
    assert too_precise.status_code == 303
    assert "more decimals than USD allows" in staff_client.get(f"/staff/payments/{ref}").text

    staff_client.post(f"/staff/payments/{ref}/refund", data={"amount": "5.00"})
    page = staff_client.get(f"/staff/payments/{ref}").text
    assert "Refunded 5.00 USD" in page
    with app.app_context():
        assert payment(ref).status == "COMPLETED" and payment(ref).refunded_amount == 500

    staff_client.post(f"/staff/payments/{ref}/refund", data={"amount": "15.01"})
    assert "At most 15.00 USD is left to refund" in staff_client.get(f"/staff/payments/{ref}").text

    staff_client.post(f"/staff/payments/{ref}/refund", data={"amount": "15.00"})
    page = staff_client.get(f"/staff/payments/{ref}").text
    assert "The payment is now REFUNDED" in page and "Nothing to refund" in page
    with app.app_context():
        row = payment(ref)
        assert row.status == "REFUNDED" and row.refunded_amount == 2000


def test_coinpayments_refund_explains_there_is_no_api(
    app: Flask, sandbox: Sandbox, staff_client: FlaskClient
) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    with app.app_context():
        pay_ref(sandbox, ref)
    staff_client.post(f"/staff/payments/{ref}/refresh")
    staff_client.post(f"/staff/payments/{ref}/refund", data={"amount": ""})
    page = staff_client.get(f"/staff/payments/{ref}").text
    assert "CoinPayments has no refund API" in page
    with app.app_context():
        row = payment(ref)
        assert row.status == "COMPLETED" and row.refunded_amount == 0


def test_unknown_payment_is_404(staff_client: FlaskClient) -> None:
    assert staff_client.get("/staff/payments/pay_nope").status_code == 404
