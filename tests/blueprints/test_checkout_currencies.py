"""A gateway that cannot charge the order's total is shown disabled with the reason, and a
crafted POST choosing it anyway is refused before any order or payment exists."""

from __future__ import annotations

from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from checkout.extensions import db
from checkout.models import Order, Payment
from tests.blueprints.html_helpers import parse, read_form

REASON = "Stripe cannot charge 4.255 KWD: amounts in KWD must be multiples of 0.010 KWD"


def _radio(client: FlaskClient, url: str, gateway: str):
    page = parse(client.get(url).data)
    return page, page.find("div", data_gateway=gateway).find("input")


def test_stripe_is_shown_disabled_with_the_reason(client: FlaskClient, make_product) -> None:
    product = make_product(price=4255, currency="KWD")

    page, radio = _radio(client, f"/checkout/{product.slug}", "stripe")

    assert radio.has("disabled") and not radio.has("checked")
    reason = page.by_id(radio.get("aria-describedby").split()[-1])
    assert REASON in reason.text
    for other in ("coinpayments", "mpgs"):
        assert not page.find("div", data_gateway=other).find("input").has("disabled")


def test_a_price_stripe_can_charge_leaves_it_enabled(client: FlaskClient, make_product) -> None:
    for price, currency in ((4250, "KWD"), (500, "ISK"), (1500, "JPY")):
        product = make_product(price=price, currency=currency)
        _, radio = _radio(client, f"/checkout/{product.slug}", "stripe")
        assert not radio.has("disabled"), currency


def test_a_crafted_post_for_the_disabled_gateway_is_refused(
    client: FlaskClient, make_product
) -> None:
    product = make_product(price=4255, currency="KWD")
    form = read_form(parse(client.get(f"/checkout/{product.slug}").data).by_id("paymentForm"))
    form.fill("email", "shopper@example.com")
    # what a crafted request would send: the rendered form, only the radio's value changed
    data = [(k, "stripe" if k == "gateway" else v) for k, v in form.data()]
    assert ("gateway", "stripe") in data

    response = client.post(form.action, data=MultiDict(data))

    assert response.status_code == 400
    error = parse(response.data).by_id("gateway-error")
    assert "Stripe is not available" in error.text and REASON in error.text
    assert db.session.scalars(db.select(Order)).all() == []
    assert db.session.scalars(db.select(Payment)).all() == []
