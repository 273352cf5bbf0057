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
from tests.blueprints.html_helpers import Element, parse, read_form

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
    notice = page.find(data_testid="fulfilment-notice").text
    assert notice.startswith("Paid: your eSIM is being prepared")
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


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("late", "arrived after the deadline and was accepted"),
        ("underpaid", "Less than the full amount arrived"),
        ("overpaid", "More than the amount due arrived"),
        ("amount_mismatch", "We received a different amount than this order costs"),
        ("paid_twice", "already paid by another payment"),
        ("authorised", "The card was authorised but not captured"),
        ("refunded", "refunded at the payment provider"),
        ("disputed", "disputed with the card issuer"),
        (None, "Our staff need to look at this payment"),  # a row flagged before kinds existed
    ],
)
def test_each_review_kind_has_its_own_words(
    client: FlaskClient, make_payment, kind: str | None, words: str
) -> None:
    payment = _crypto_payment(
        make_payment,
        needs_review=True,
        review_reason="paid 0.05 LTCT of 0.15625 LTCT",
        gateway_data={"review_kind": kind} if kind else {},
    )
    notice = _page(client, payment).find(data_testid="review-notice").text
    assert words in notice
    assert ("different amount" in notice) == (kind == "amount_mismatch")
    assert "0.05 LTCT" not in _page(client, payment).text  # staff words stay with staff
    assert words in client.get(f"/status/{payment.ref}.json").get_json()["review_words"]


def test_a_partial_refund_is_shown_with_the_paid_status(client: FlaskClient, make_payment) -> None:
    payment = make_payment(gateway="stripe", refunded_amount=250)
    _mark_paid(payment)
    page = _page(client, payment)
    assert page.find("span", class_="badge").text == "Paid, 2.50 USD refunded"
    data = client.get(f"/status/{payment.ref}.json").get_json()
    assert data["status_words"] == "Paid, 2.50 USD refunded" and data["refunded"] == "2.50"


# -- crypto between "sent" and "paid" ------------------------------------------------------


def test_the_full_amount_seen_without_confirmations_stops_asking_for_coins(
    client: FlaskClient, make_payment
) -> None:
    payment = _crypto_payment(make_payment, gateway_data={"coin_received": "0.15625000"})
    page = _page(client, payment)
    assert "Coins seen, waiting for confirmations" in page.by_id("status-headline").text
    assert "Send exactly the amount" not in page.text
    assert page.find(data_testid="countdown") is None
    assert "Pay another way" not in _links(page)
    assert page.find(data_testid="confirmations").text == "0 of 3"
    data = client.get(f"/status/{payment.ref}.json").get_json()
    assert data["coins_seen"] is True and data["coins_missing"] is None


def test_part_of_the_coins_says_what_arrived_and_what_is_missing(
    client: FlaskClient, make_payment
) -> None:
    payment = _crypto_payment(make_payment, gateway_data={"coin_received": "0.05000000"})
    page = _page(client, payment)
    assert "Part of the coins arrived" in page.by_id("status-headline").text
    status = page.by_id("status").text
    assert "0.05000000 LTCT of 0.15625000 LTCT arrived" in status
    assert "0.10625000 LTCT is still missing" in status
    assert page.find(data_testid="coins-missing").text == "0.10625000 LTCT"
    assert page.find(data_testid="countdown") is not None  # the rest can still be sent in time
    assert "Pay another way" not in _links(page)  # the coins that arrived would be stranded
    data = client.get(f"/status/{payment.ref}.json").get_json()
    assert (data["coins_received"], data["coins_missing"], data["coins_seen"]) == (
        "0.05000000",
        "0.10625000",
        False,
    )


def test_part_of_the_coins_after_the_deadline_is_not_no_payment(
    client: FlaskClient, make_payment
) -> None:
    payment = _crypto_payment(
        make_payment,
        status=PaymentStatus.EXPIRED,
        expires_at=utcnow() - timedelta(minutes=5),
        gateway_data={"coin_received": "0.05000000", "review_kind": "underpaid"},
        needs_review=True,
        review_reason="timed out with only 0.05000000 LTCT of 0.15625000 LTCT received",
    )
    page = _page(client, payment)
    status = page.by_id("status")
    assert "No payment arrived" not in status.text
    assert "Only 0.05000000 LTCT of 0.15625000 LTCT arrived before the deadline" in status.text
    assert "0.10625000 LTCT is still missing" in status.text
    assert "Less than the full amount arrived" in page.find(data_testid="review-notice").text
    # expired, but late coins still count: the page keeps polling, slowly
    assert status.get("data-final") == "true" and status.get("data-poll-seconds") == "30"
    assert page.find(data_testid="late-polling") is not None
    data = client.get(f"/status/{payment.ref}.json").get_json()
    assert data["late_money_possible"] is True and data["poll_seconds"] == 30


def test_nothing_after_the_deadline_says_so_and_polls_only_where_money_can_come_late(
    client: FlaskClient, make_payment
) -> None:
    crypto = _crypto_payment(
        make_payment, status=PaymentStatus.EXPIRED, expires_at=utcnow() - timedelta(minutes=5)
    )
    assert "No payment arrived before the deadline" in _page(client, crypto).by_id("status").text
    assert client.get(f"/status/{crypto.ref}.json").get_json()["poll_seconds"] == 30

    card = make_payment(gateway="mpgs", status=PaymentStatus.EXPIRED, gateway_data={})
    page = _page(client, card)
    assert "No payment arrived before the deadline" in page.by_id("status").text
    assert page.by_id("status").get("data-poll-seconds") is None
    data = client.get(f"/status/{card.ref}.json").get_json()
    assert data["late_money_possible"] is False and data["poll_seconds"] is None

    # a card payment expired while 3-D Secure was running may still be paid: keep looking
    running = make_payment(
        gateway="mpgs", status=PaymentStatus.EXPIRED, gateway_data={"late_money": True}
    )
    page = _page(client, running)
    assert "still under way" in page.by_id("status").text
    assert "No payment arrived" not in page.by_id("status").text
    assert page.by_id("status").get("data-poll-seconds") == "30"


def test_an_expired_authorised_card_payment_says_so(client: FlaskClient, make_payment) -> None:
    payment = make_payment(
        gateway="mpgs",
        status=PaymentStatus.EXPIRED,
        status_message="The card was authorised but not captured",
        needs_review=True,
        review_reason="MPGS holds an authorization that nobody will capture",
        gateway_data={"review_kind": "authorised", "late_money": True},
    )
    page = _page(client, payment)
    status = page.by_id("status").text
    assert "No payment arrived" not in status
    assert "The card was authorised but not captured" in status
    assert "held on your card" in page.find(data_testid="review-notice").text


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
        page = parse(client.get(f"/checkout/{product.slug}").data)
        form = read_form(page.by_id("paymentForm")).fill("email", "a@example.com")
        response = form.choose("gateway", "coinpayments").submit(client)
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
