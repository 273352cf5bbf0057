"""The status page `/status/<ref>` and its JSON twin: what each status shows, the live refresh,
"pay another way", and that no secret that proves payment ever reaches the browser."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import Payment, utcnow
from checkout.payments.states import PaymentStatus
from tests.blueprints.html_helpers import Element, parse

SECRET = "SUCCESS-INDICATOR-4f1c9a7e"


def _page(client: FlaskClient, payment: Payment, query: str = "") -> Element:
    response = client.get(f"/status/{payment.ref}{query}")
    assert response.status_code == 200
    return parse(response.data)


def _links(page: Element) -> dict[str, str]:
    return {a.text: a.get("href") for a in page.find_all("a")}


def _crypto_payment(make_payment, **values: Any) -> Payment:
    defaults: dict[str, Any] = {
        "gateway_reference": "CPTESTTXN0001",
        "checkout_url": "http://127.0.0.1:9/index.php?cmd=checkout&id=CPTESTTXN0001",
        "pay_address": "mxLTCTsandboxaddress0000000000001",
        "crypto_amount": 15625000,
        "crypto_currency": "LTCT",
        "confirms_received": 0,
        "confirms_needed": 3,
        "expires_at": utcnow() + timedelta(minutes=59, seconds=30),
        "last_checked_at": utcnow(),  # a fresh look-up: the JSON twin will not call the gateway
    }
    defaults.update(values)
    return make_payment(gateway="coinpayments", **defaults)


def _mark_paid(payment: Payment, code: str | None = "LPA:1$esim.tollgate.test$ABC123") -> None:
    payment.status = PaymentStatus.COMPLETED
    payment.order.status = "PAID"
    payment.order.paid_by_payment_id = payment.id
    payment.order.fulfilment_code = code
    db.session.commit()


def test_pending_crypto_page_shows_what_to_send_and_refreshes(
    client: FlaskClient, make_payment
) -> None:
    payment = _crypto_payment(make_payment)
    page = _page(client, payment)
    status = page.by_id("status")
    assert status.find("span", class_="badge").text == "Waiting for payment"
    assert status.get("data-final") == "false"
    assert status.get("data-json-url") == f"/status/{payment.ref}.json"
    assert "Send the coins" in page.by_id("status-headline").text

    text = page.text
    assert payment.order.product.name in text
    assert page.find(data_testid="amount").text == "12.50 USD"
    assert "Crypto (CoinPayments)" in text
    assert page.find(data_testid="pay-address").text == "mxLTCTsandboxaddress0000000000001"
    assert page.by_id("crypto-amount").text == "0.15625000"
    assert "0.15625000 LTCT" in page.find("span", class_="crypto-amount").text
    assert page.find(data_testid="confirmations").text == "0 of 3"
    countdown = page.find(data_testid="countdown")
    assert countdown.text.startswith("59 min")
    assert countdown.get("data-expires-at") == payment.expires_at.isoformat()

    # Without JavaScript a meta refresh goes through the coalesced refresh URL...
    head = page.find("head")
    assert f'content="10;url=/status/{payment.ref}/refresh"' in _raw_noscript(head)
    # ...with it, the polling script.
    assert any(
        (s.get("src") or "").endswith("/static/js/status.js") for s in page.find_all("script")
    )
    links = _links(page)
    assert links["Open the Crypto (CoinPayments) page"] == payment.checkout_url
    assert links["Check now"] == f"/status/{payment.ref}/refresh"
    # Nothing sent yet: another way to pay is offered, with a warning.
    assert links["Pay another way"] == f"/orders/{payment.order.ref}/pay"
    assert "Only choose another way if you have not paid" in page.by_id("status").text


def test_once_coins_are_seen_the_page_follows_confirmations(
    client: FlaskClient, make_payment
) -> None:
    payment = _crypto_payment(make_payment, confirms_received=1)
    page = _page(client, payment)
    assert "Coins seen, waiting for confirmations" in page.by_id("status-headline").text
    assert "completes after 3 network confirmations" in page.by_id("status").text
    assert page.find(data_testid="confirmations").text == "1 of 3"
    # No deadline to race and no second way to pay: that would invite a double payment.
    assert page.find(data_testid="countdown") is None
    assert "Pay another way" not in _links(page)


def _raw_noscript(head: Element) -> str:
    """<noscript> content as markup (the parser may hand it back as text or as elements)."""
    parts = []
    for el in head.find_all("noscript"):
        for child in el.children:
            if isinstance(child, str):
                parts.append(child)
            else:
                attrs = " ".join(f'{k}="{v}"' for k, v in child.attrs.items())
                parts.append(f"<{child.tag} {attrs}>")
    return "".join(parts)


def test_pending_card_payment_links_back_to_the_hosted_page(
    client: FlaskClient, make_payment
) -> None:
    payment = make_payment(
        gateway="mpgs",
        checkout_url="http://127.0.0.1:9/checkout/pay/SESSION0001",
        expires_at=utcnow() + timedelta(minutes=14, seconds=59),
    )
    page = _page(client, payment)
    links = _links(page)
    assert links["Go to the payment page"] == payment.checkout_url
    assert links["Pay another way"] == f"/orders/{payment.order.ref}/pay"
    assert "Waiting for your payment" in page.by_id("status-headline").text
    assert page.find(data_testid="pay-address") is None
    assert page.find(data_testid="countdown").text.startswith("14 min")
    assert "Card (HyperPay MPGS)" in page.text


def test_paid_shows_the_activation_code_and_stops_refreshing(
    client: FlaskClient, make_payment
) -> None:
    payment = _crypto_payment(make_payment, confirms_received=3)
    _mark_paid(payment)
    page = _page(client, payment)
    assert page.find("span", class_="badge").text == "Paid"
    assert page.by_id("status").get("data-final") == "true"
    assert page.find(data_testid="activation-code").text == "LPA:1$esim.tollgate.test$ABC123"
    assert "Payment received" in page.by_id("status-headline").text
    assert _raw_noscript(page.find("head")) == ""
    links = _links(page)
    assert "Pay another way" not in links and "Check now" not in links
    # An address to send more coins to is not shown once paid.
    assert page.find(data_testid="pay-address") is None
    assert page.find(data_testid="countdown") is None


def test_paid_before_the_code_is_issued_keeps_polling_until_it_is(
    client: FlaskClient, make_payment
) -> None:
    payment = _crypto_payment(make_payment, confirms_received=3)
    _mark_paid(payment, code=None)

    page = _page(client, payment)
    assert page.by_id("status").get("data-final") == "false"
    assert "Preparing your eSIM activation code" in page.find(data_testid="preparing-code").text
    assert client.get(f"/status/{payment.ref}.json").json["final"] is False

    _mark_paid(payment)
    data = client.get(f"/status/{payment.ref}.json").json
    assert (data["final"], data["fulfilment_code"]) == (True, "LPA:1$esim.tollgate.test$ABC123")


@pytest.mark.parametrize(
    ("status", "words", "headline"),
    [
        (PaymentStatus.FAILED, "Failed", "The payment did not go through"),
        (PaymentStatus.EXPIRED, "Expired", "The time to pay ran out"),
        (PaymentStatus.CANCELLED, "Cancelled", "This payment was cancelled"),
    ],
)
def test_unsuccessful_final_states_offer_another_way_to_pay(
    client: FlaskClient, make_payment, status: PaymentStatus, words: str, headline: str
) -> None:
    payment = make_payment(
        gateway="stripe", status=status, status_message="Card declined: insufficient funds"
    )
    page = _page(client, payment)
    assert page.find("span", class_="badge").text == words
    assert headline in page.by_id("status-headline").text
    assert "Card declined: insufficient funds" in page.text
    assert _links(page)["Pay another way"] == f"/orders/{payment.order.ref}/pay"
    assert page.by_id("status").get("data-final") == "true"
    assert _raw_noscript(page.find("head")) == ""


def test_coming_back_from_a_cancel_says_so(client: FlaskClient, make_payment) -> None:
    payment = make_payment(gateway="stripe", checkout_url="http://127.0.0.1:9/pay/cs_1")
    page = _page(client, payment, "?cancelled=1")
    notice = page.find(data_testid="cancelled-notice")
    assert "You left the payment page without paying" in notice.text
    assert _links(page)["Pay another way"] == f"/orders/{payment.order.ref}/pay"
    assert _page(client, payment).find(data_testid="cancelled-notice") is None


def test_coming_back_from_a_timed_out_page_says_so(client: FlaskClient, make_payment) -> None:
    payment = make_payment(gateway="mpgs", checkout_url="http://127.0.0.1:9/checkout/pay/S1")
    page = _page(client, payment, "?timed_out=1")
    notice = page.find(data_testid="timed-out-notice")
    assert "The payment page timed out" in notice.text
    assert page.find(data_testid="cancelled-notice") is None
    assert _links(page)["Pay another way"] == f"/orders/{payment.order.ref}/pay"


def test_a_second_payment_of_a_paid_order_points_to_the_one_that_paid(
    client: FlaskClient, make_payment
) -> None:
    winner = make_payment(gateway="stripe")
    _mark_paid(winner)
    other = Payment(
        order_id=winner.order_id,
        gateway="mpgs",
        amount=1250,
        currency="USD",
        status=PaymentStatus.PENDING,
        checkout_url="http://127.0.0.1:9/checkout/pay/S2",
    )
    db.session.add(other)
    db.session.commit()
    page = _page(client, other)
    links = _links(page)
    assert links["See that payment"] == f"/status/{winner.ref}"
    assert "Pay another way" not in links and "Go to the payment page" not in links


def test_review_flag_is_explained_to_the_shopper(client: FlaskClient, make_payment) -> None:
    payment = _crypto_payment(
        make_payment, needs_review=True, review_reason="paid 0.05 LTCT of 0.15625 LTCT"
    )
    page = _page(client, payment)
    assert "different amount" in page.find(data_testid="review-notice").text
    assert "0.05 LTCT" not in page.text  # staff words stay with staff


def test_gateway_text_is_escaped(client: FlaskClient, make_payment) -> None:
    payment = make_payment(
        gateway="stripe", status=PaymentStatus.FAILED, status_message='<img src=x onerror="x()">'
    )
    body = client.get(f"/status/{payment.ref}").get_data(as_text=True)
    assert '<img src=x onerror="x()">' not in body
    assert "&lt;img src=x" in body


# -- the JSON twin -----------------------------------------------------------------------


def _secret_payment(make_payment) -> Payment:
    return make_payment(
        gateway="mpgs",
        gateway_reference="SESSION0001",
        gateway_secret=SECRET,
        gateway_data={"successIndicator": SECRET, "session_version": "v1"},
        last_raw={"successIndicator": SECRET, "result": "SUCCESS"},
        checkout_url="http://127.0.0.1:9/checkout/pay/SESSION0001",
        last_checked_at=utcnow(),
    )


def test_json_twin_matches_the_page(client: FlaskClient, make_payment) -> None:
    payment = _crypto_payment(make_payment)
    response = client.get(f"/status/{payment.ref}.json")
    assert response.status_code == 200 and response.is_json
    data = response.get_json()
    assert data["ref"] == payment.ref
    assert data["status"] == "PENDING" and data["status_words"] == "Waiting for payment"
    assert data["final"] is False
    assert (data["amount"], data["currency"]) == ("12.50", "USD")
    assert data["product"] == payment.order.product.name
    assert data["gateway_label"] == "Crypto (CoinPayments)"
    assert data["pay_address"] == payment.pay_address
    assert (data["crypto_amount"], data["crypto_currency"]) == ("0.15625000", "LTCT")
    assert (data["confirms_received"], data["confirms_needed"]) == (0, 3)
    assert 3500 < data["seconds_left"] <= 3570
    assert data["fulfilment_code"] is None


def test_json_and_page_never_expose_secrets(client: FlaskClient, make_payment) -> None:
    payment = _secret_payment(make_payment)
    for url in (f"/status/{payment.ref}.json", f"/status/{payment.ref}"):
        body = client.get(url).get_data(as_text=True)
        assert SECRET not in body
        assert "successIndicator" not in body
        assert "gateway_secret" not in body
    data = client.get(f"/status/{payment.ref}.json").get_json()
    assert not {"gateway_secret", "gateway_data", "last_raw", "review_reason"} & set(data)
    # the same holds once the payment is paid
    _mark_paid(payment)
    body = client.get(f"/status/{payment.ref}.json").get_data(as_text=True)
    assert SECRET not in body and json.loads(body)["status"] == "COMPLETED"


def test_unknown_ref_is_404_html_and_json(client: FlaskClient) -> None:
    page = client.get("/status/pay_doesnotexist")
    assert page.status_code == 404 and page.mimetype == "text/html"
    data = client.get("/status/pay_doesnotexist.json")
    assert data.status_code == 404 and data.is_json


class TestPollingReachesTheGateway:
    """With IPNs off, the JSON twin's own look-up is what moves the payment to Paid."""

    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"REFRESH_COALESCE_SECONDS": 0}

    def test_json_polling_completes_a_paid_crypto_payment(
        self, client: FlaskClient, make_product, sandbox, fulfilments
    ) -> None:
        sandbox.knobs("coinpayments", notifications=False)
        product = make_product(price=1250)
        response = client.post(
            f"/checkout/{product.slug}",
            data={"email": "a@example.com", "gateway": "coinpayments", "attempt": "t" * 32},
        )
        assert response.status_code == 303
        payment = db.session.scalar(db.select(Payment))
        first = client.get(f"/status/{payment.ref}.json").get_json()
        assert first["status"] == "PENDING" and first["confirms_received"] == 0

        for action in ("send_full", "confirm", "confirm"):
            sent = requests.post(
                response.location,
                data={"action": action},
                headers={"Accept": "application/json"},
                timeout=5,
            )
            assert sent.status_code == 200, sent.text
        data = client.get(f"/status/{payment.ref}.json").get_json()
        assert data["status"] == "COMPLETED" and data["final"] is True
        assert data["status_words"] == "Paid"
        assert data["fulfilment_code"].startswith("LPA:1$")
        assert fulfilments == [(payment.ref, payment.order.ref)]
        assert [e.source for e in payment.events if e.kind == "transition"][-1] == "poll"
