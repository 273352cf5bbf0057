"""Every form in the product, posted exactly as rendered: GET the page, read the form (action,
method, every input with its value, the chosen radio), send that and nothing else, with CSRF
protection switched on as in production. A form whose page forgets a field its view requires
fails here, as "Pay another way" once did ("Enter your e-mail address" on a page without one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import Order, Payment, Product, StaffRole, StaffUser
from checkout.payments.states import PaymentStatus
from tests.blueprints.html_helpers import Form, parse, read_form
from tests.conftest import Sandbox, make_test_app
from tests.reconciliation import open_payments, pay_ref, payment, quiet

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def site(sandbox: Sandbox, tmp_path: Path) -> Iterator[Flask]:
    """The app as production runs it: CSRF on, and every request in its own app context (the
    pytest-flask `app` fixture keeps one context pushed for a whole test, so a CSRF token cached
    in `g` would outlive the session that staff login resets)."""
    application = make_test_app(
        sandbox.url, f"sqlite:///{tmp_path / 'forms.sqlite3'}", WTF_CSRF_ENABLED=True
    )
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(site: Flask) -> FlaskClient:
    return site.test_client()


def _product(site: Flask) -> str:
    with site.app_context():
        product = Product(
            slug="europe-5gb",
            name="Europe 5 GB",
            region="Europe",
            data_mb=5120,
            validity_days=30,
            price=1250,
            currency="USD",
        )
        db.session.add(product)
        db.session.commit()
        return product.slug


def _order_after(site: Flask, gateway: str, status: str) -> str:
    """An order whose one payment ended in `status`; its ref."""
    _product(site)
    with site.app_context():
        product = db.session.scalar(db.select(Product))
        order = Order(product_id=product.id, email="s@example.com", amount=1250, currency="USD")
        db.session.add(order)
        db.session.flush()
        db.session.add(
            Payment(order_id=order.id, gateway=gateway, amount=1250, currency="USD", status=status)
        )
        db.session.commit()
        return order.ref


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


def _page_forms(client: FlaskClient, url: str) -> list[Form]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return [read_form(el) for el in parse(response.data).find_all("form")]


def _form(client: FlaskClient, url: str, action: str) -> Form:
    found = [f for f in _page_forms(client, url) if f.action == action]
    assert len(found) == 1, f"no form posting to {action} on {url}"
    return found[0]


def test_every_form_in_the_templates_is_audited_here() -> None:
    """A new form must join this file: seven forms today, each posted below or where named."""
    forms = {
        path.relative_to(TEMPLATES).as_posix(): len(re.findall(r"<form\b", path.read_text()))
        for path in TEMPLATES.rglob("*.html")
    }
    assert {name: n for name, n in forms.items() if n} == {
        "checkout/checkout.html": 1,  # new order, pay again
        "staff/_layout.html": 2,  # search, log out
        "staff/login.html": 1,
        "staff/users.html": 4,  # add, change role, deactivate, reactivate (test_staff_users.py)
        "staff/audit.html": 1,  # the audit log's filters (test_staff_audit.py)
        "staff/payments.html": 1,  # the list's filters (test_staff_payments.py submits it)
        # refresh, and retry a dead fulfilment job (test_staff_fulfilment.py posts it)
        "staff/payment.html": 2,
        "staff/_refund.html": 2,  # refund, record a manual refund (test_staff_refunds.py)
        "staff/refund_confirm.html": 1,  # the second step of both
        "staff/_review_notes.html": 2,  # resolve, add a note
        "staff/review.html": 1,  # resolve from the queue (test_staff_review.py)
        "staff/gateways.html": 1,  # force on/off, one per gateway (test_staff_gateways.py)
    }


# -- the shopper's forms ---------------------------------------------------------------------


def test_checkout_form_for_a_new_order(site: Flask, client: FlaskClient, sandbox) -> None:
    slug = _product(site)
    form = _form(client, f"/checkout/{slug}", f"/checkout/{slug}")
    assert form.method == "post"
    assert form.names() == {"csrf_token", "attempt", "email", "gateway"}
    response = form.fill("email", "shopper@example.com").submit(client)
    assert response.status_code == 303
    assert response.location.startswith(f"{sandbox.url}/index.php?cmd=checkout")
    with site.app_context():
        [order] = db.session.scalars(db.select(Order)).all()
        assert order.email == "shopper@example.com" and len(order.payments) == 1


@pytest.mark.parametrize(
    ("gateway", "status"),
    [
        ("mpgs", PaymentStatus.FAILED),  # declined
        ("stripe", PaymentStatus.CANCELLED),  # cancelled
        ("coinpayments", PaymentStatus.EXPIRED),  # expired
        ("stripe", PaymentStatus.CREATED),  # the gateway could not be reached
    ],
)
def test_pay_again_form_from_my_orders(
    site: Flask, client: FlaskClient, sandbox, gateway: str, status: str
) -> None:
    order_ref = _order_after(site, gateway, status)
    with client.session_transaction() as session:
        session["orders"] = [order_ref]  # placed from this browser
    mine = parse(client.get("/orders").data)
    link = mine.find("a", href=f"/orders/{order_ref}/pay")
    assert link is not None and re.match(r"Pay( another way)? for ", link.text)

    form = _form(client, link.get("href"), f"/orders/{order_ref}/pay")
    assert form.method == "post" and form.names() == {"csrf_token", "attempt", "gateway"}
    response = form.submit(client)

    assert response.status_code == 303
    assert response.location.startswith(f"{sandbox.url}/index.php?cmd=checkout")
    with site.app_context():
        [earlier, again] = db.session.scalars(db.select(Payment).order_by(Payment.id)).all()
        assert again.order_id == earlier.order_id and again.status == PaymentStatus.PENDING


# -- the staff console's forms ---------------------------------------------------------------


@pytest.fixture
def staff(site: Flask) -> str:
    with site.app_context():
        user = StaffUser(email="agent@tollgate.test", role=StaffRole.ADMIN)  # refunds
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.email


def _log_in(client: FlaskClient, email: str) -> None:
    form = _form(client, "/staff/login", "/staff/login")
    assert form.method == "post" and form.names() == {"csrf_token", "next", "email", "password"}
    response = form.fill("email", email).fill("password", PASSWORD).submit(client)
    assert response.status_code == 303 and response.location == "/staff/"


def test_staff_login_search_refresh_refund_and_logout_forms(
    site: Flask, client: FlaskClient, sandbox: Sandbox, staff: str
) -> None:
    [ref] = open_payments(site, "stripe", 1, price=2000)
    with site.app_context():
        pay_ref(sandbox, ref)

    _log_in(client, staff)

    search = _form(client, "/staff/", "/staff/")
    assert search.method == "get" and search.names() == {"q"}
    found = search.fill("q", ref).submit(client)
    assert found.status_code == 200 and f"/staff/payments/{ref}" in found.text

    page = f"/staff/payments/{ref}"
    refreshed = _form(client, page, f"{page}/refresh").submit(client)
    assert refreshed.status_code == 303 and refreshed.location == page
    with site.app_context():
        assert payment(ref).status == PaymentStatus.COMPLETED

    refund = _form(client, page, f"{page}/refund")
    assert refund.names() == {"csrf_token", "amount"}
    asked = refund.submit(client)  # the pre-filled amount: everything left
    confirm = [read_form(el) for el in parse(asked.data).find_all("form")]
    [confirm] = [f for f in confirm if f.action == f"{page}/refund/confirm"]
    assert confirm.names() == {"csrf_token", "amount", "currency", "reason"}
    refunded = confirm.fill("reason", "the shopper asked").submit(client)
    assert refunded.status_code == 303 and refunded.location == page
    with site.app_context():
        row = payment(ref)
        assert row.status == PaymentStatus.REFUNDED and row.refunded_amount == 2000

    logout = _form(client, page, "/staff/logout")
    assert logout.names() == {"csrf_token"}
    out = logout.submit(client)
    assert out.status_code == 303 and out.location == "/staff/login"
    assert client.get("/staff/").status_code == 302


def test_staff_note_resolve_and_manual_refund_forms(
    site: Flask, client: FlaskClient, sandbox: Sandbox, staff: str
) -> None:
    [ref] = open_payments(site, "coinpayments", 1, price=2000)
    with site.app_context():
        pay_ref(sandbox, ref)
        db.session.execute(
            db.update(Payment)
            .where(Payment.ref == ref)
            .values(needs_review=True, review_reason="late payment: money arrived after EXPIRED")
        )
        db.session.commit()
    _log_in(client, staff)
    page = f"/staff/payments/{ref}"
    assert _form(client, page, f"{page}/refresh").submit(client).status_code == 303

    note = _form(client, page, f"{page}/notes")
    assert note.names() == {"csrf_token", "note"}
    assert note.fill("note", "phoned the shopper").submit(client).location == page

    resolve = _form(client, "/staff/review", f"{page}/resolve")
    assert resolve.names() == {"csrf_token", "reason", "back", "note"}
    assert resolve.fill("note", "kept it").submit(client).location == "/staff/review"

    manual = _form(client, page, f"{page}/manual-refund")
    assert manual.names() == {"csrf_token", "amount"}
    asked = manual.submit(client)
    confirm = [read_form(el) for el in parse(asked.data).find_all("form")]
    [confirm] = [f for f in confirm if f.action == f"{page}/manual-refund/confirm"]
    assert confirm.fill("reason", "sent back, tx ab12").submit(client).location == page
    with site.app_context():
        row = payment(ref)
        assert not row.needs_review and row.status == PaymentStatus.REFUNDED
        kinds = [e.kind for e in row.events]
        assert {"note", "resolved", "refund"} <= set(kinds)
