"""Text PostgreSQL cannot store, in a path, a query or a form, is refused; logs stay one line.

Before the request guard each of these reached a query and PostgreSQL's refusal came back as a
500 ("A string literal cannot contain NUL characters"); before the log filter a `%0A` in a URL
wrote a second, forged line into the log.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import StaffUser
from tests.blueprints.html_helpers import parse, read_form
from tests.conftest import Sandbox
from tests.fuzz.kit import snapshot
from tests.postgres.conftest import make_pg_app
from tests.reconciliation import open_payments, quiet

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


@pytest.mark.parametrize(
    "path",
    [
        "/status/PAY%00X",
        "/status/PAY%00X.json",
        "/status/PAY%00X/refresh",
        "/status/PAY%00X/return",
        "/pay/PAY%00X/launch",
        "/orders/ORD%00X/pay",
        "/checkout/plan%00",
    ],
)
def test_a_nul_in_the_path_is_404(client: FlaskClient, path: str, caplog) -> None:
    caplog.set_level(logging.INFO, logger="checkout")
    assert client.get(path).status_code == 404
    assert "the path holds a NUL" in caplog.text


def test_a_nul_in_a_query_or_a_form_field_is_400(
    app: Flask, client: FlaskClient, make_product, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="checkout")
    product = make_product()
    assert client.get("/staff/login?next=%2Fstaff%2F%00").status_code == 400
    assert "the query holds a NUL" in caplog.text

    page = client.get(f"/checkout/{product.slug}")
    form = read_form(parse(page.data).by_id("paymentForm")).fill("email", "a\x00@example.com")
    before = snapshot(app)
    assert form.submit(client).status_code == 400
    assert "a form field holds a NUL" in caplog.text
    assert snapshot(app) == before


def test_a_nul_in_the_staff_search_and_login_is_400(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        user = StaffUser(email="agent@tollgate.test")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    [login] = [
        read_form(f)
        for f in parse(client.get("/staff/login").data).find_all("form")
        if f.get("action") == "/staff/login"
    ]
    assert login.fill("email", "agent\x00@tollgate.test").submit(client).status_code == 400
    assert (
        login.fill("email", "agent@tollgate.test")
        .fill("password", PASSWORD)
        .submit(client)
        .status_code
        == 303
    )
    [ref] = open_payments(app, "stripe", 1)
    assert client.get("/staff/?q=%00").status_code == 400
    assert client.get(f"/staff/?q={ref}").status_code in (200, 302)


@pytest.fixture
def log_stream(sandbox: Sandbox, pg_url: str) -> Iterator[tuple[Flask, io.StringIO]]:
    """An app built while the root logger writes to a stream: the handler a deployment has."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield make_pg_app(sandbox, pg_url), stream
    finally:
        root.removeHandler(handler)


def test_a_newline_in_a_url_cannot_forge_a_log_line(
    log_stream: tuple[Flask, io.StringIO],
) -> None:
    app, stream = log_stream
    logging.getLogger("checkout").setLevel(logging.INFO)
    assert app.test_client().get("/status/abc%0AINFO forged%0D%1B[31m").status_code == 404
    lines = [line for line in stream.getvalue().splitlines() if "forged" in line]
    assert lines == [
        "INFO checkout.blueprints.errors: GET /status/abc\\nINFO forged\\r\\x1b[31m -> 404 "
        + lines[0].split(" -> 404 ", 1)[1]
    ]
    assert not any(line.startswith("INFO forged") for line in stream.getvalue().splitlines())
