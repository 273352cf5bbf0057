"""Styled error pages for people, JSON errors for machines (`/ipn/*`, `.json` URLs)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import Payment
from checkout.payments.states import PaymentStatus
from tests.blueprints.html_helpers import Form, parse, read_form


def _checkout_form(client: FlaskClient, slug: str) -> Form:
    """The checkout page's form as rendered, read the way a browser submits it."""
    return read_form(parse(client.get(f"/checkout/{slug}").data).by_id("paymentForm"))


def _assert_page(response: Any, code: int, title: str) -> None:
    assert response.status_code == code
    assert response.mimetype == "text/html"
    page = parse(response.data)
    assert page.find("p", class_="error-code").text == str(code)
    assert title in page.by_id("error-title").text
    assert page.find("link", rel="stylesheet").get("href") == "/static/css/tollgate.css"
    assert {a.text for a in page.find_all("a")} >= {"Back to the shop", "My orders"}


def _assert_json(response: Any, code: int, title: str) -> None:
    assert response.status_code == code
    assert response.is_json
    body = response.get_json()
    assert body["error"] == title and body["status"] == code and body["detail"]


def test_404(client: FlaskClient) -> None:
    _assert_page(client.get("/no/such/page"), 404, "Page not found")
    _assert_json(client.get("/status/pay_nothing.json"), 404, "Page not found")


def test_405(client: FlaskClient) -> None:
    page = client.post("/")
    _assert_page(page, 405, "Method not allowed")
    assert set(page.headers["Allow"].split(", ")) >= {"GET"}
    ipn = client.get("/ipn/coinpayments")
    _assert_json(ipn, 405, "Method not allowed")
    assert "POST" in ipn.headers["Allow"]


def test_413(app: Flask, client: FlaskClient, make_product) -> None:
    product = make_product()
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    pasted = _checkout_form(client, product.slug).fill("email", too_big)
    _assert_page(pasted.submit(client), 413, "Too large")
    ipn = client.post(
        "/ipn/coinpayments",
        data=too_big.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "HMAC": "0" * 128},
    )
    _assert_json(ipn, 413, "Too large")


def test_429(client: FlaskClient, make_payment) -> None:
    # A final payment: the refresh URL answers without calling any gateway.
    payment = make_payment(status=PaymentStatus.COMPLETED)
    codes = [client.get(f"/status/{payment.ref}/refresh").status_code for _ in range(30)]
    assert set(codes) == {303}
    page = client.get(f"/status/{payment.ref}/refresh")
    _assert_page(page, 429, "Slow down")
    assert int(page.headers["Retry-After"]) > 0

    for _ in range(300):  # the JSON poll's limit: per address and payment
        assert client.get(f"/status/{payment.ref}.json").status_code == 200
    _assert_json(client.get(f"/status/{payment.ref}.json"), 429, "Slow down")


class TestCsrf:
    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"WTF_CSRF_ENABLED": True}

    def test_400_for_a_form_without_its_token(self, client: FlaskClient, make_product) -> None:
        product = make_product()
        form = _checkout_form(client, product.slug).fill("email", "a@example.com")
        form.forge("csrf_token", None)  # deliberately missing: the one field this test is about
        response = form.submit(client)
        _assert_page(response, 400, "Bad request")
        assert "This form had expired" in response.get_data(as_text=True)
        asked_json = form.submit(client, headers={"Accept": "application/json"})
        _assert_json(asked_json, 400, "Bad request")
        assert db.session.scalar(db.select(db.func.count(Payment.id))) == 0

    def test_the_page_carries_the_token(self, client: FlaskClient, make_product) -> None:
        product = make_product()
        page = parse(client.get(f"/checkout/{product.slug}").data)
        token = page.by_id("csrf_token").get("value")
        assert token
        form = read_form(page.by_id("paymentForm"))
        assert form.hidden()["csrf_token"] == token
        response = form.fill("email", "not-an-email").submit(client)
        assert response.status_code == 400  # a validation error, past the CSRF check
        assert "Enter a valid e-mail address" in response.get_data(as_text=True)


def test_500(app: Flask, client: FlaskClient) -> None:
    def boom() -> str:
        raise RuntimeError("database exploded: password=hunter2")

    app.add_url_rule("/_test/boom", "boom", boom)
    app.add_url_rule("/_test/boom.json", "boom_json", boom)
    page = client.get("/_test/boom")
    _assert_page(page, 500, "Something went wrong")
    assert "hunter2" not in page.get_data(as_text=True)
    data = client.get("/_test/boom.json")
    _assert_json(data, 500, "Something went wrong")
    assert "hunter2" not in data.get_data(as_text=True)
