"""The checkout POST, the staff login and the staff refund form under fuzzing, on PostgreSQL.

Each test starts from the form the page renders (read_form) and fuzzes the values of its
fields: no 5xx but 503, and nothing changes that the answer does not say changed.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from checkout.extensions import db
from checkout.models import StaffRole, StaffUser
from tests.blueprints.html_helpers import Form, parse, read_form
from tests.conftest import Sandbox
from tests.fuzz.kit import FUZZ, NASTY_NUMBERS, assert_answered, nasty_text, snapshot
from tests.reconciliation import open_payments, pay_ref, quiet

PASSWORD = "correct horse battery staple"
#: what a browser can post: any text but lone surrogates, which UTF-8 cannot encode
form_text = nasty_text.filter(lambda text: "\ud800" not in text)


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


def _form(client: FlaskClient, url: str, action: str) -> Form:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    [form] = [read_form(f) for f in parse(page.data).find_all("form") if f.get("action") == action]
    return form


def _fuzzed(form: Form, values: dict[str, str]) -> Form:
    """The rendered form with the drawn values in place of the named fields' own."""
    names = sorted(form.names())
    for index, value in values.items():
        form.forge(names[int(index) % len(names)], value)
    return form


field_values = st.dictionaries(st.integers(0, 20).map(str), form_text, min_size=1, max_size=3)


@FUZZ
@given(values=field_values)
def test_checkout_post(app: Flask, client: FlaskClient, make_product, values) -> None:
    product = make_product()
    url = f"/checkout/{product.slug}"
    form = _fuzzed(read_form(parse(client.get(url).data).by_id("paymentForm")), values)
    form.fill("email", form.typed.get("email", "shopper@example.com"))
    before = snapshot(app)
    response = form.submit(client)
    assert_answered(response.status_code, f"checkout with {values!r}")
    if response.status_code != 303:  # only a hand-off to a gateway opens an order
        assert snapshot(app) == before


@pytest.fixture
def staff(app: Flask) -> str:
    with app.app_context():
        user = StaffUser(email="agent@tollgate.test", role=StaffRole.ADMIN)  # refunds
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.email


@FUZZ
@given(email=form_text, password=form_text)
def test_staff_login(app: Flask, client: FlaskClient, staff: str, email, password) -> None:
    form = _form(client, "/staff/login", "/staff/login").fill("email", email)
    before = snapshot(app)
    response = form.fill("password", password).submit(client)
    assert_answered(response.status_code, f"login with {email!r}, {password!r}")
    assert response.status_code != 303 or (email.strip() == staff and password == PASSWORD)
    assert snapshot(app) == before


@pytest.fixture
def paid_ref(app: Flask, sandbox: Sandbox, client: FlaskClient, staff: str) -> str:
    login = _form(client, "/staff/login", "/staff/login").fill("email", staff)
    assert login.fill("password", PASSWORD).submit(client).status_code == 303
    [ref] = open_payments(app, "stripe", 1, price=2000)
    with app.app_context():
        pay_ref(sandbox, ref)
    page = f"/staff/payments/{ref}"
    assert _form(client, page, f"{page}/refresh").submit(client).status_code == 303
    return ref


def _not_money(text: str) -> bool:
    """Whether `text` is no amount at all (a real amount would refund and empty the form)."""
    return not re.fullmatch(r"\s*\d+(\.\d*)?\s*", text) and text.strip() != ""


@FUZZ
@given(amount=st.one_of(st.sampled_from(NASTY_NUMBERS), form_text).filter(_not_money))
def test_staff_refund_form(app: Flask, client: FlaskClient, paid_ref: str, amount) -> None:
    page = f"/staff/payments/{paid_ref}"
    form = _form(client, page, f"{page}/refund").fill("amount", amount)
    before = snapshot(app)
    response = form.submit(client)
    assert_answered(response.status_code, f"refund of {amount!r}")
    assert snapshot(app) == before
