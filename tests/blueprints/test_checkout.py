"""The checkout page and its POST: server-side prices, the gateway selector, double submits,
validation, and what a shopper is left with when the gateway cannot be reached.

Gateway calls go over real HTTP to the sandbox (CoinPayments), as in `make run`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import Order, Payment, PaymentEvent
from checkout.payments.states import PaymentStatus
from tests.blueprints.html_helpers import Element, Form, parse, read_form


def _filled(client: FlaskClient, url: str) -> Form:
    """The payment form of the page at `url`, with the shopper's address typed in when the form
    asks for one (the page's own radio choice and attempt token are kept)."""
    form = _form(client, url)
    if "email" in form.names():
        form.fill("email", "shopper@example.com")
    return form


def _post(client: FlaskClient, url: str):
    """GET the page at `url` and post its form as a shopper fills it in."""
    return _filled(client, url).submit(client)


def _orders() -> list[Order]:
    return list(db.session.scalars(db.select(Order)).all())


def _payments() -> list[Payment]:
    return list(db.session.scalars(db.select(Payment).order_by(Payment.id)).all())


def _option(page: Element, name: str) -> Element:
    el = page.find("div", data_gateway=name)
    assert el is not None, f"no option for {name}"
    return el


def _form(client: FlaskClient, url: str) -> Form:
    """GET a page with the payment form and read the form as the browser would send it."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return read_form(parse(response.data).by_id("paymentForm"))


def _sandbox_txn(sandbox, txn_id: str) -> dict[str, Any]:
    response = requests.get(f"{sandbox.url}/_sandbox/coinpayments/transactions/{txn_id}", timeout=5)
    response.raise_for_status()
    return response.json()


# -- the page -------------------------------------------------------------------------------


def test_page_shows_summary_selector_and_pay_bar(client: FlaskClient, make_product) -> None:
    make_product(
        price=1250,
        slug="europe-5gb",
        name="Europe 5 GB",
        region="Europe (39 countries)",
        data_mb=5120,
        validity_days=30,
    )
    response = client.get("/checkout/europe-5gb")
    assert response.status_code == 200
    page = parse(response.data)
    summary = page.find("section", class_="bundle")
    assert summary is not None
    assert "Europe 5 GB" in summary.text
    assert "Europe (39 countries)" in summary.text
    assert "5 GB" in summary.text
    assert "30 days" in summary.text
    assert page.find(data_testid="total").text == "12.50 USD"

    form = page.by_id("paymentForm")
    assert form.get("method") == "post"
    assert form.get("action") == "/checkout/europe-5gb"
    # No field the browser could use to set a price.
    names = {el.get("name") for el in form.find_all("input")}
    assert names == {"attempt", "email", "gateway"}  # CSRF is off in the test config

    fieldset = form.find("fieldset")
    assert fieldset is not None and fieldset.find("legend").text == "Payment method"
    expected = {
        "coinpayments": ("Crypto (CoinPayments)", "BTC, LTC and more", "coinpayments.svg"),
        "mpgs": ("Card (HyperPay MPGS)", "Visa / Mastercard / mada", "mastercard.svg"),
        "stripe": ("Stripe", "Cards, Apple Pay, Google Pay", "stripe.svg"),
    }
    for name, (label, note, logo) in expected.items():
        option = _option(page, name)
        radio = option.find("input")
        assert radio.get("type") == "radio" and radio.get("name") == "gateway"
        assert not radio.has("disabled")
        text_label = option.find("label")
        assert text_label.get("for") == radio.get("id")
        assert label in text_label.text and note in text_label.text
        assert text_label.find("img").get("src").endswith(f"/static/img/gateways/{logo}")
        assert page.by_id(radio.get("aria-describedby")).text == note
    checked = [el.get("value") for el in fieldset.find_all("input") if el.has("checked")]
    assert checked == ["coinpayments"]
    assert "Protected payments" in page.find("p", class_="protected").text
    bar = page.find("div", class_="actionBtnArea")
    button = bar.find("button")
    assert button.get("type") == "submit" and button.text == "Pay now"
    assert not button.has("disabled")


@pytest.mark.parametrize(
    ("price", "currency", "shown"),
    [(1500, "JPY", "1500 JPY"), (4250, "KWD", "4.250 KWD"), (7500, "SAR", "75.00 SAR")],
)
def test_total_uses_the_currency_exponent(
    client: FlaskClient, make_product, price: int, currency: str, shown: str
) -> None:
    product = make_product(price=price, currency=currency)
    page = parse(client.get(f"/checkout/{product.slug}").data)
    assert page.find(data_testid="total").text == shown
    assert shown in page.find("p", class_="pay-total").text


def test_a_changed_plan_or_gateway_shows_on_the_next_page(
    app: Flask, client: FlaskClient, make_product
) -> None:
    """Each process keeps a fresh page's HTML below its tokens (blueprints/fragments.py): what
    the page shows is its key, so a change shows at once."""
    product = make_product(name="Europe 5 GB", price=1250)
    url = f"/checkout/{product.slug}"
    first = parse(client.get(url).data)
    assert first.find(data_testid="total").text == "12.50 USD"
    assert read_form(first.by_id("paymentForm")).checked("gateway") == "coinpayments"

    product.name, product.price = "Europe 6 GB", 990
    db.session.commit()
    app.config["GATEWAY_COINPAYMENTS_ENABLED"] = False
    app.config["GATEWAY_COINPAYMENTS_DISABLED_REASON"] = "Closed for the day"
    page = parse(client.get(url).data)
    assert "Europe 6 GB" in page.find("section", class_="bundle").text
    assert page.find(data_testid="total").text == "9.90 USD"
    coinpayments = _option(page, "coinpayments")
    assert coinpayments.find("input").has("disabled")
    assert "Closed for the day" in coinpayments.text
    assert read_form(page.by_id("paymentForm")).checked("gateway") == "mpgs"
    assert page.by_id("email").get("value") == ""


def test_unknown_or_inactive_product_is_404(client: FlaskClient, make_product) -> None:
    hidden = make_product()
    left_open = _filled(client, f"/checkout/{hidden.slug}")  # a tab opened before it was hidden
    hidden.active = False
    db.session.commit()
    assert client.get("/checkout/no-such-plan").status_code == 404
    assert client.get(f"/checkout/{hidden.slug}").status_code == 404
    assert left_open.submit(client).status_code == 404
    assert _orders() == []


class TestDisabledGateway:
    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {
            "GATEWAY_STRIPE_ENABLED": False,
            "GATEWAY_STRIPE_DISABLED_REASON": "Card payments by Stripe open next month",
        }

    def test_shown_disabled_with_its_reason_on_the_page(
        self, client: FlaskClient, make_product
    ) -> None:
        product = make_product()
        page = parse(client.get(f"/checkout/{product.slug}").data)
        option = _option(page, "stripe")
        radio = option.find("input")
        assert radio.has("disabled") and not radio.has("checked")
        described = radio.get("aria-describedby").split()
        reason = page.by_id(described[-1])
        # Visible text on the page, not a tooltip.
        assert "Card payments by Stripe open next month" in reason.text
        assert reason.tag == "p" and not reason.has("hidden")
        assert page.by_id(described[0]).text == "Cards, Apple Pay, Google Pay"
        assert not any(el.has("title") for el in option.iter())
        # The enabled options are untouched.
        assert not _option(page, "coinpayments").find("input").has("disabled")

    def test_crafted_post_is_refused_and_creates_nothing(
        self, client: FlaskClient, make_product
    ) -> None:
        product = make_product()
        # Deliberately crafted: the disabled radio's value, the rest as rendered.
        form = _filled(client, f"/checkout/{product.slug}").forge("gateway", "stripe")
        response = form.submit(client)
        assert response.status_code == 400
        page = parse(response.data)
        error = page.by_id("gateway-error")
        assert "Stripe is not available" in error.text
        assert "open next month" in error.text
        assert page.find("fieldset").get("aria-describedby") == "gateway-error"
        assert _orders() == [] and _payments() == []


class TestNoGatewayEnabled:
    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {
            "GATEWAY_STRIPE_ENABLED": False,
            "GATEWAY_MPGS_ENABLED": False,
            "GATEWAY_COINPAYMENTS_ENABLED": False,
            "GATEWAY_COPYANDPAY_ENABLED": False,
        }

    def test_pay_button_is_disabled_with_an_explanation(
        self, client: FlaskClient, make_product
    ) -> None:
        product = make_product()
        page = parse(client.get(f"/checkout/{product.slug}").data)
        assert page.find("button", class_="submitBtn").has("disabled")
        assert "No payment method is available" in page.find(data_testid="no-methods").text
        assert all(el.has("disabled") for el in page.find("fieldset").find_all("input"))
        assert _post(client, f"/checkout/{product.slug}").status_code == 400
        assert _payments() == []


# -- the POST ------------------------------------------------------------------------------


def test_post_prices_from_the_catalogue_and_ignores_tampered_fields(
    client: FlaskClient, make_product, sandbox
) -> None:
    product = make_product(price=4250, currency="KWD")
    form = _filled(client, f"/checkout/{product.slug}")
    # Deliberately tampered: price fields the page never renders, added to the rendered form.
    for name, value in {
        "amount": "0.001",
        "price": "0.01",
        "currency": "USD",
        "currency1": "USD",
    }.items():
        form.forge(name, value)
    response = form.submit(client)
    assert response.status_code == 303
    assert response.location.startswith(f"{sandbox.url}/index.php?cmd=checkout")
    [order] = _orders()
    [payment] = _payments()
    assert (order.amount, order.currency) == (4250, "KWD")
    assert (payment.amount, payment.currency) == (4250, "KWD")
    assert payment.status == PaymentStatus.PENDING
    assert payment.order_id == order.id and order.email == "shopper@example.com"
    # ...and the gateway was asked for the catalogue price too.
    txn = _sandbox_txn(sandbox, payment.gateway_reference)
    assert (txn["amount1"], txn["currency1"]) == ("4.250", "KWD")


def test_post_remembers_the_order_in_this_browser(client: FlaskClient, make_product) -> None:
    product = make_product()
    _post(client, f"/checkout/{product.slug}")
    [order] = _orders()
    with client.session_transaction() as session:
        assert session["orders"] == [order.ref]


def test_double_post_with_one_attempt_token_opens_one_payment(
    client: FlaskClient, make_product
) -> None:
    product = make_product()
    form = _filled(client, f"/checkout/{product.slug}")
    first = form.submit(client)
    second = form.submit(client)  # a double submit of the same rendered form
    assert first.status_code == second.status_code == 303
    assert first.location == second.location
    assert len(_orders()) == 1
    [payment] = _payments()
    assert payment.status == PaymentStatus.PENDING
    creates = [e for e in payment.events if e.source == "create" and e.kind == "transition"]
    assert len(creates) == 1


def test_a_new_attempt_token_from_another_browser_is_a_new_checkout(
    app: Flask, client: FlaskClient, make_product
) -> None:
    product = make_product()
    _post(client, f"/checkout/{product.slug}")
    _post(app.test_client(), f"/checkout/{product.slug}")
    assert len(_orders()) == 2 and len(_payments()) == 2


def test_page_issues_a_fresh_attempt_token_each_time(client: FlaskClient, make_product) -> None:
    product = make_product()
    tokens = {
        parse(client.get(f"/checkout/{product.slug}").data).by_id("attempt").get("value")
        for _ in range(2)
    }
    assert len(tokens) == 2 and all(len(t) >= 24 for t in tokens)


@pytest.mark.parametrize(
    ("change", "field_id", "message"),
    [
        (
            lambda form: form.fill("email", "not-an-email"),
            "email-error",
            "Enter a valid e-mail address",
        ),
        (lambda form: form.fill("email", ""), "email-error", "Enter your e-mail address"),
        # Deliberately missing / crafted: no radio, or a method the page never offered.
        (lambda form: form.forge("gateway", None), "gateway-error", "Choose a payment method."),
        (
            lambda form: form.forge("gateway", "paypal"),
            "gateway-error",
            "Choose one of the payment methods shown.",
        ),
    ],
)
def test_validation_errors_rerender_with_messages_tied_to_fields(
    client: FlaskClient,
    make_product,
    change: Callable[[Form], Form],
    field_id: str,
    message: str,
) -> None:
    product = make_product()
    response = change(_filled(client, f"/checkout/{product.slug}")).submit(client)
    assert response.status_code == 400
    page = parse(response.data)
    assert message in page.by_id(field_id).text
    problem = page.by_id("problem")
    assert problem.get("role") == "alert"
    assert message in problem.text
    if field_id == "email-error":
        email = page.by_id("email")
        assert email.get("aria-invalid") == "true"
        assert "email-error" in email.get("aria-describedby").split()
    else:
        assert page.find("fieldset").get("aria-describedby") == "gateway-error"
    assert _orders() == [] and _payments() == []


def test_email_is_stored_trimmed(client: FlaskClient, make_product) -> None:
    product = make_product()
    form = _form(client, f"/checkout/{product.slug}").fill("email", "  keep.me@example.com ")
    response = form.submit(client)
    assert response.status_code == 303
    [order] = _orders()
    assert order.email == "keep.me@example.com"


# -- the gateway cannot be reached ---------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("trouble", ["error_rate", "malformed_rate", "closed_port"])
def test_unreachable_gateway_keeps_the_order_and_does_not_fail_the_payment(
    app: Flask, client: FlaskClient, make_product, sandbox, trouble: str
) -> None:
    if trouble == "closed_port":
        app.config["COINPAYMENTS_API_URL"] = f"http://127.0.0.1:{_closed_port()}/api.php"
    else:
        sandbox.knobs("coinpayments", **{trouble: 1.0})
    product = make_product(price=1250)
    sent = _filled(client, f"/checkout/{product.slug}")
    response = sent.submit(client)

    assert response.status_code == 503
    page = parse(response.data)
    message = page.find(data_testid="checkout-error").text
    assert "Crypto (CoinPayments) is not answering right now" in message
    assert "Your order is saved" in message
    assert page.by_id("problem").get("role") == "alert"

    [order] = _orders()
    [payment] = _payments()
    assert order.status == "OPEN" and order.amount == 1250
    assert payment.status == PaymentStatus.CREATED  # not FAILED: nothing was refused
    kinds = [(e.source, e.kind, e.new_status) for e in payment.events]
    assert kinds == [("create", "error", "CREATED")]
    assert (
        db.session.scalar(
            db.select(PaymentEvent).filter_by(payment_id=payment.id, new_status="FAILED")
        )
        is None
    )

    # The page comes back for the same order, with a fresh attempt token...
    form = page.by_id("paymentForm")
    assert form.get("action") == f"/orders/{order.ref}/pay"
    assert page.by_id("attempt").get("value") != sent.hidden()["attempt"]
    # ...so once the gateway answers again, "Pay now" opens a checkout for that order, posting
    # exactly what the page holds (it has no e-mail field: the order keeps its address).
    app.config["COINPAYMENTS_API_URL"] = f"{sandbox.url}/api.php"
    app.extensions.get("tollgate_gateways", {}).clear()
    sandbox.knobs("coinpayments", error_rate=0.0, malformed_rate=0.0)
    assert "email" not in read_form(form).names()
    retry = read_form(form).submit(client)
    assert retry.status_code == 303
    assert len(_orders()) == 1
    first, second = _payments()
    assert first.status == PaymentStatus.CREATED and second.status == PaymentStatus.PENDING
    assert second.order_id == order.id and second.amount == 1250


# -- paying an existing order another way ----------------------------------------------------


def test_pay_another_way_reuses_the_order_and_its_price(
    client: FlaskClient, make_product, make_payment
) -> None:
    cancelled = make_payment(status=PaymentStatus.CANCELLED, amount=1250)
    order = cancelled.order
    order.product.price = 9900  # the catalogue price changed since the order was placed
    db.session.commit()

    page = parse(client.get(f"/orders/{order.ref}/pay").data)
    assert page.find(data_testid="total").text == "12.50 USD"
    assert page.by_id("paymentForm").get("action") == f"/orders/{order.ref}/pay"
    assert page.find(id="email") is None  # the order's address is fixed...
    assert "s•••@example.com" in page.text  # ...and only shown masked
    assert "shopper@example.com" not in page.text
    assert "Cancelled" in page.find(data_testid="previous-attempt").text

    form = read_form(page.by_id("paymentForm"))
    assert form.names() == {"attempt", "gateway"}
    response = form.submit(client)
    assert response.status_code == 303
    # A crafted e-mail is ignored too: the order keeps the address it was placed with.
    # Deliberately crafted: an e-mail field the page does not have, added to a fresh page's form.
    crafted = _form(client, f"/orders/{order.ref}/pay").forge("email", "attacker@example.com")
    crafted = crafted.submit(client)
    assert crafted.status_code == 303 and crafted.location == response.location
    assert len(_orders()) == 1
    old, new = _payments()  # the crafted post went on to the same open checkout
    assert old.id == cancelled.id and old.status == PaymentStatus.CANCELLED
    assert (new.order_id, new.amount, new.currency) == (order.id, 1250, "USD")
    assert order.email == "shopper@example.com"
    with client.session_transaction() as session:
        assert session["orders"] == [order.ref]


def test_pay_for_a_paid_order_goes_to_its_status_page(client: FlaskClient, make_payment) -> None:
    paid = make_payment(status=PaymentStatus.FAILED)
    left_open = _form(client, f"/orders/{paid.order.ref}/pay")  # a tab from before it was paid
    paid.status = PaymentStatus.COMPLETED
    paid.order.status = "PAID"
    paid.order.paid_by_payment_id = paid.id
    db.session.commit()
    for response in (
        client.get(f"/orders/{paid.order.ref}/pay"),
        left_open.submit(client),
    ):
        assert response.status_code == 303
        assert response.location.endswith(f"/status/{paid.ref}")
    assert len(_payments()) == 1


def test_pay_for_an_unknown_order_is_404(client: FlaskClient) -> None:
    assert client.get("/orders/ord_nope/pay").status_code == 404


def test_an_attempt_token_cannot_be_replayed_against_another_order(
    client: FlaskClient, make_product
) -> None:
    product = make_product()
    first = _filled(client, f"/checkout/{product.slug}")
    first.submit(client)
    other = make_product()
    # Deliberately replayed: the first page's attempt token in another product's form.
    replayed = _filled(client, f"/checkout/{other.slug}")
    response = replayed.forge("attempt", first.hidden()["attempt"]).submit(client)
    assert response.status_code == 400
    assert len(_orders()) == 1 and len(_payments()) == 1


# -- paying again after each kind of failure, posting exactly the rendered form ---------------

_HOSTED = {
    "coinpayments": lambda sandbox, payment: f"{sandbox.url}/index.php?cmd=checkout",
    "mpgs": lambda sandbox, payment: f"/pay/{payment.ref}/launch",
    "stripe": lambda sandbox, payment: f"{sandbox.url}/c/pay/cs_test_",
}


def _assert_handed_to(response, sandbox, payment: Payment) -> None:
    assert response.status_code == 303, response.data[:500]
    assert response.location.startswith(_HOSTED[payment.gateway](sandbox, payment))


@pytest.mark.parametrize(
    ("failed_with", "status"),
    [
        ("mpgs", PaymentStatus.FAILED),  # a declined card
        ("stripe", PaymentStatus.CANCELLED),  # left the hosted page
        ("coinpayments", PaymentStatus.EXPIRED),  # the time to send coins ran out
    ],
)
@pytest.mark.parametrize("gateway", ["coinpayments", "mpgs", "stripe"])
def test_pay_again_page_posts_its_own_form_to_every_gateway(
    client: FlaskClient, make_payment, sandbox, failed_with: str, status: str, gateway: str
) -> None:
    earlier = make_payment(gateway=failed_with, status=status)
    order = earlier.order

    form = _form(client, f"/orders/{order.ref}/pay")
    assert (form.action, form.method) == (f"/orders/{order.ref}/pay", "post")
    assert form.names() == {"attempt", "gateway"}
    assert form.checked("gateway") == "coinpayments"
    response = form.choose("gateway", gateway).submit(client)

    [_, again] = _payments()
    _assert_handed_to(response, sandbox, again)
    assert (again.order_id, again.gateway, again.status) == (order.id, gateway, "PENDING")
    assert again.amount == order.amount and len(_orders()) == 1


def test_pay_now_on_the_gateway_error_page_and_pay_on_my_orders(
    client: FlaskClient, make_product, sandbox
) -> None:
    product = make_product()
    sandbox.knobs("stripe", error_rate=1.0)
    first = _form(client, f"/checkout/{product.slug}")
    down = first.fill("email", "shopper@example.com").choose("gateway", "stripe").submit(client)
    assert down.status_code == 503
    page = parse(down.data)
    # The checkout never opened: no "last attempt: Opening checkout" on the page that says so.
    assert page.find(data_testid="previous-attempt") is None
    assert "Opening checkout" not in page.text
    [order] = _orders()

    # "Pay" on /orders leads to the same page for the order, which says what happened.
    mine = parse(client.get("/orders").data)
    link = mine.find("a", href=f"/orders/{order.ref}/pay")
    assert link is not None and link.text.startswith("Pay")
    again = parse(client.get(link.get("href")).data)
    note = again.find(data_testid="previous-attempt").text
    assert "could not reach Stripe" in note and "Opening checkout" not in note

    # "Pay now" on the error page, once Stripe answers again, posts only what the page holds.
    sandbox.knobs("stripe", error_rate=0.0)
    retry = read_form(page.by_id("paymentForm"))
    assert retry.checked("gateway") == "stripe" and "email" not in retry.names()
    response = retry.submit(client)
    created, opened = _payments()
    _assert_handed_to(response, sandbox, opened)
    assert created.status == PaymentStatus.CREATED and opened.order_id == order.id
    assert len(_orders()) == 1


def test_a_pasted_address_over_254_characters_is_too_long_only(
    client: FlaskClient, make_product
) -> None:
    product = make_product()
    pasted = "not an address " * 20  # 300 characters, and not an address either
    form = _form(client, f"/checkout/{product.slug}").fill("email", pasted)
    response = form.submit(client)
    assert response.status_code == 400
    error = parse(response.data).by_id("email-error").text
    assert error == "That e-mail address is too long."
    assert _orders() == []


# -- Back from the hosted page: the same attempt lands on the same order ----------------------


def _buy(client: FlaskClient, product, gateway: str = "stripe", email: str = "a@example.com"):
    """A fresh checkout page (as after Back without the page cache), filled in and sent."""
    form = _form(client, f"/checkout/{product.slug}")
    return form.fill("email", email).choose("gateway", gateway).submit(client)


def test_back_and_a_fresh_page_continue_the_same_order_and_hosted_page(
    client: FlaskClient, make_product, sandbox
) -> None:
    product = make_product()
    first = _buy(client, product)
    again = _buy(client, product)
    assert again.status_code == 303 and again.location == first.location
    assert len(_orders()) == 1 and len(_payments()) == 1


def test_back_and_another_gateway_is_a_new_payment_of_the_same_order(
    client: FlaskClient, make_product, sandbox
) -> None:
    product = make_product()
    _buy(client, product, "stripe")
    response = _buy(client, product, "coinpayments")
    [order] = _orders()
    stripe, crypto = _payments()
    _assert_handed_to(response, sandbox, crypto)
    assert stripe.order_id == crypto.order_id == order.id


def test_after_cancel_on_the_hosted_page_the_same_order_gets_a_new_checkout(
    client: FlaskClient, make_product, sandbox
) -> None:
    product = make_product()
    _buy(client, product)
    [left] = _payments()
    client.get(f"/status/{left.ref}/cancel")  # the gateway's cancel URL: the page is done with
    response = _buy(client, product)
    _, fresh = _payments()
    _assert_handed_to(response, sandbox, fresh)
    assert fresh.order_id == left.order_id and fresh.gateway_reference != left.gateway_reference


def test_another_address_or_a_paid_order_is_a_new_order(
    client: FlaskClient, make_product, sandbox
) -> None:
    product = make_product()
    _buy(client, product)
    _buy(client, product, email="someone.else@example.com")
    assert len(_orders()) == 2
    for order in _orders():
        order.status = "PAID"
    db.session.commit()
    _buy(client, product, email="someone.else@example.com")
    assert len(_orders()) == 3 and len(_payments()) == 3


def test_back_on_the_pay_again_page_continues_the_same_payment(
    client: FlaskClient, make_payment, sandbox
) -> None:
    declined = make_payment(gateway="mpgs", status=PaymentStatus.FAILED)
    url = f"/orders/{declined.order.ref}/pay"
    first = _form(client, url).choose("gateway", "stripe").submit(client)
    again = _form(client, url).choose("gateway", "stripe").submit(client)
    assert again.location == first.location
    assert len(_payments()) == 2  # the declined one and one Stripe checkout
