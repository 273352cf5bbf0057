"""The staff console: login, search, the payment page, Refresh and Refund, against the sandbox."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from checkout.extensions import db
from checkout.models import Order, Payment, PaymentEvent, StaffRole, StaffUser
from tests.blueprints.html_helpers import Form, parse, read_form
from tests.conftest import Sandbox, make_test_app
from tests.reconciliation import GatewayCalls, open_payments, pay_ref, payment, quiet

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


@pytest.fixture
def staff(app: Flask) -> str:
    """An admin: these tests refund (support staff are refused refunds, test_staff_audit.py)."""
    with app.app_context():
        user = StaffUser(email="agent@tollgate.test", role=StaffRole.ADMIN)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.email


def _form(client: FlaskClient, url: str, action: str) -> Form:
    """The one form on the page at `url` that posts to `action`, as a browser would send it."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    found = [read_form(el) for el in parse(response.data).find_all("form")]
    [form] = [f for f in found if f.action == action]
    return form


def _login_form(client: FlaskClient, email: str, password: str, next_page: str | None) -> Form:
    url = "/staff/login" + (f"?{urlencode({'next': next_page})}" if next_page is not None else "")
    return _form(client, url, "/staff/login").fill("email", email).fill("password", password)


def login(
    client: FlaskClient, email: str, password: str = PASSWORD, next_page: str | None = None
) -> Any:
    """Open the login page (with `?next=` as the login redirect sets it) and post its form."""
    return _login_form(client, email, password, next_page).submit(client)


def logout(client: FlaskClient) -> Any:
    """Press "Log out" in the console's header."""
    return _form(client, "/staff/", "/staff/logout").submit(client)


def refresh(client: FlaskClient, ref: str) -> Any:
    """Press "Refresh from <gateway>" on the payment's page."""
    page = f"/staff/payments/{ref}"
    return _form(client, page, f"{page}/refresh").submit(client)


def search(client: FlaskClient, query: str) -> Any:
    """Type `query` into the console's search box and press "Find" (a GET form)."""
    return _form(client, "/staff/", "/staff/").fill("q", query).submit(client)


def refund(client: FlaskClient, ref: str, amount: str | None = None) -> Any:
    """Type `amount` into the refund box (or keep the pre-filled "everything left"), press
    Refund…, then confirm on the confirmation page with a reason (test_staff_refunds.py tests
    the two steps; an amount refused at the first step answers its redirect)."""
    page = f"/staff/payments/{ref}"
    form = _form(client, page, f"{page}/refund")
    asked = (form if amount is None else form.fill("amount", amount)).submit(client)
    if asked.status_code != 200:
        return asked
    forms = [read_form(el) for el in parse(asked.data).find_all("form")]
    [confirm] = [f for f in forms if f.action == f"{page}/refund/confirm"]
    return confirm.fill("reason", "the shopper asked").submit(client)


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
    ]:  # no page to read a form from without a login: a bare request, as a script would send
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

    assert logout(client).status_code == 303
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
    assert logout(client).status_code == 303
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
    assert login(client, staff, next_page=target).headers["Location"] == lands


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
    form = _login_form(client, "agent@tollgate.test", PASSWORD, None)
    form.forge("csrf_token", None)  # deliberately missing: the one field this test is about
    answer = form.submit(client)
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
        page = search(staff_client, query).text
        assert first in page and second not in page and other not in page, query
    page = search(staff_client, "someone.else@example.COM").text
    assert other in page and first not in page
    page = search(staff_client, "shopper@example.com").text
    assert other not in page
    assert page.index(second) < page.index(first)  # newest first
    miss = search(staff_client, "pay_nothing")
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
    first = refresh(staff_client, ref)
    assert first.status_code == 303 and first.headers["Location"] == f"/staff/payments/{ref}"
    with app.app_context():
        pay_ref(sandbox, ref)
    refresh(staff_client, ref)  # inside the shoppers' coalesce window
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
    refresh(staff_client, ref)
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
    refresh(staff_client, ref)

    too_precise = refund(staff_client, ref, "1.005")
    assert too_precise.status_code == 303
    assert "more decimals than USD allows" in staff_client.get(f"/staff/payments/{ref}").text

    refund(staff_client, ref, "5.00")
    page = staff_client.get(f"/staff/payments/{ref}").text
    assert "Refunded 5.00 USD" in page
    with app.app_context():
        assert payment(ref).status == "COMPLETED" and payment(ref).refunded_amount == 500

    refund(staff_client, ref, "15.01")
    assert "At most 15.00 USD is left to refund" in staff_client.get(f"/staff/payments/{ref}").text

    refund(staff_client, ref, "15.00")
    page = staff_client.get(f"/staff/payments/{ref}").text
    assert "The payment is now Refunded" in page and "Nothing to refund" in page
    with app.app_context():
        row = payment(ref)
        assert row.status == "REFUNDED" and row.refunded_amount == 2000


def test_coinpayments_refund_explains_there_is_no_api(
    app: Flask, sandbox: Sandbox, staff_client: FlaskClient
) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    with app.app_context():
        pay_ref(sandbox, ref)
    refresh(staff_client, ref)
    page = f"/staff/payments/{ref}"
    forms = [read_form(el) for el in parse(staff_client.get(page).data).find_all("form")]
    assert not [f for f in forms if f.action == f"{page}/refund"]  # no refund form to press
    assert "CoinPayments has no refund API" in staff_client.get(page).text
    with app.app_context():
        row = payment(ref)
        assert row.status == "COMPLETED" and row.refunded_amount == 0


def test_unknown_payment_is_404(staff_client: FlaskClient) -> None:
    assert staff_client.get("/staff/payments/pay_nope").status_code == 404
