"""'My orders': only the orders placed from this browser, newest first, with badges and links."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import Order, Payment, utcnow
from checkout.payments.states import PaymentStatus
from tests.blueprints.html_helpers import Element, parse, read_form


def _buy(client: FlaskClient, slug: str, email: str):
    """GET the checkout page, type the e-mail and post the form as rendered."""
    page = parse(client.get(f"/checkout/{slug}").data)
    return read_form(page.by_id("paymentForm")).fill("email", email).submit(client)


def _rows(client: FlaskClient) -> list[Element]:
    response = client.get("/orders")
    assert response.status_code == 200
    return parse(response.data).find_all("li", class_="order")


def _remember(client: FlaskClient, *orders: Order) -> None:
    with client.session_transaction() as session:
        session["orders"] = [o.ref for o in orders]


def test_empty_without_orders_from_this_browser(client: FlaskClient, make_payment) -> None:
    make_payment()  # someone else's order
    response = client.get("/orders")
    page = parse(response.data)
    assert page.find_all("li", class_="order") == []
    assert "No orders from this browser yet" in page.text
    assert page.find("a", aria_current="page").text == "My orders"


def test_lists_only_this_browsers_orders_newest_first(
    app: Flask, client: FlaskClient, make_product
) -> None:
    older_product = make_product(name="Europe 5 GB")
    newer_product = make_product(name="Japan 3 GB", price=1500, currency="JPY")
    for product in (older_product, newer_product):
        response = _buy(client, product.slug, "me@example.com")
        assert response.status_code == 303
    older, newer = db.session.scalars(db.select(Order).order_by(Order.id)).all()
    older.created_at = utcnow() - timedelta(hours=1)
    db.session.commit()

    with app.test_client() as stranger:
        _buy(stranger, older_product.slug, "x@example.com")
        [theirs] = _rows(stranger)  # the stranger sees their own order only
        assert theirs.get("data-order-ref") not in {older.ref, newer.ref}
    assert db.session.scalar(db.select(db.func.count(Order.id))) == 3

    rows = _rows(client)
    assert [r.get("data-order-ref") for r in rows] == [newer.ref, older.ref]
    first = rows[0]
    assert "Japan 3 GB" in first.text and "1500 JPY" in first.text
    assert "Crypto (CoinPayments)" in first.text
    assert first.find("span", class_="badge").text == "Waiting for payment"
    payment = newer.payments[-1]
    links = {a.text: a.get("href") for a in first.find_all("a")}
    details = next(href for text, href in links.items() if text.startswith("Details"))
    assert details == f"/status/{payment.ref}"
    pay = next(href for text, href in links.items() if text.startswith("Pay another way"))
    assert pay == f"/orders/{newer.ref}/pay"


def test_paid_order_shows_paid_and_links_to_the_paying_payment(
    client: FlaskClient, make_payment
) -> None:
    winner = make_payment(gateway="stripe", status=PaymentStatus.COMPLETED)
    order = winner.order
    late = Payment(
        order_id=order.id,
        gateway="mpgs",
        amount=order.amount,
        currency=order.currency,
        status=PaymentStatus.EXPIRED,
    )
    db.session.add(late)
    order.status = "PAID"
    order.paid_by_payment_id = winner.id
    db.session.commit()
    _remember(client, order)
    [row] = _rows(client)
    assert row.find("span", class_="badge").text == "Paid"
    hrefs = [a.get("href") for a in row.find_all("a")]
    assert hrefs == [f"/status/{winner.ref}"]  # no "pay" link on a paid order


def test_failed_order_offers_another_way(client: FlaskClient, make_payment) -> None:
    failed = make_payment(gateway="mpgs", status=PaymentStatus.FAILED)
    _remember(client, failed.order)
    [row] = _rows(client)
    assert row.find("span", class_="badge").text == "Failed"
    assert f"/orders/{failed.order.ref}/pay" in [a.get("href") for a in row.find_all("a")]


def test_a_forged_session_cookie_lists_nothing(
    app: Flask, client: FlaskClient, make_payment
) -> None:
    payment = make_payment()
    client.set_cookie("session", '{"orders": ["' + payment.order.ref + '"]}')
    assert _rows(client) == []


def test_no_url_lists_other_peoples_orders(client: FlaskClient, make_payment) -> None:
    payment = make_payment()
    for url in ("/orders?all=1", f"/orders?ref={payment.order.ref}", "/orders.json"):
        body = client.get(url).get_data(as_text=True)
        assert payment.order.ref not in body and payment.ref not in body


def test_an_order_whose_checkout_never_opened_is_not_paid_yet(
    client: FlaskClient, make_payment
) -> None:
    stuck = make_payment(status=PaymentStatus.CREATED)  # the gateway was down at checkout
    _remember(client, stuck.order)
    [row] = _rows(client)
    assert row.find("span", class_="badge").text == "Not paid yet"
    links = {a.text: a.get("href") for a in row.find_all("a")}
    pay = next(href for text, href in links.items() if text.startswith("Pay "))
    assert pay == f"/orders/{stuck.order.ref}/pay"


def _buttons(row: Element) -> dict[str, str]:
    """Link text (up to its hidden suffix) -> its class: "button" is the main action."""
    return {a.text.split(" for ")[0].split(" of ")[0]: a.get("class") for a in row.find_all("a")}


def test_a_payment_waiting_for_coins_keeps_its_page_as_the_main_action(
    client: FlaskClient, make_payment
) -> None:
    waiting = make_payment(
        pay_address="mxLTCTsandboxaddress0000000000001",
        crypto_amount=15625000,
        crypto_currency="LTCT",
        expires_at=utcnow() + timedelta(minutes=50),
    )
    _remember(client, waiting.order)
    [row] = _rows(client)
    buttons = _buttons(row)
    assert "secondary" not in buttons["Details"]  # the payment under way comes first
    assert "secondary" in buttons["Pay another way"]
    warning = row.find(data_testid="pay-twice-warning").text
    assert "Only choose another way if you have not paid" in warning
    assert "paying twice would need a refund" in warning


def test_coins_that_arrived_without_confirmations_offer_no_other_way(
    client: FlaskClient, make_payment
) -> None:
    seen = make_payment(
        pay_address="mxLTCTsandboxaddress0000000000001",
        crypto_amount=15625000,
        crypto_currency="LTCT",
        confirms_received=0,
        gateway_data={"coin_received": "0.05000000"},
        expires_at=utcnow() + timedelta(minutes=50),
    )
    _remember(client, seen.order)
    [row] = _rows(client)
    assert "Pay another way" not in _buttons(row)
    assert row.find(data_testid="order-note").text == "0.05000000 LTCT of 0.15625000 LTCT arrived"


def test_an_expired_payment_offers_paying_again_as_the_main_action(
    client: FlaskClient, make_payment
) -> None:
    expired = make_payment(gateway="mpgs", status=PaymentStatus.EXPIRED)
    _remember(client, expired.order)
    [row] = _rows(client)
    buttons = _buttons(row)
    assert "secondary" not in buttons["Pay another way"]
    assert "secondary" in buttons["Details"]
    assert row.find(data_testid="pay-twice-warning") is None
