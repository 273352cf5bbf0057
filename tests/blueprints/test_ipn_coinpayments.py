"""`POST /ipn/coinpayments`: IPNs signed like the real gateway, each case asserting what it leaves
behind (payment status, PaymentEvents, Notification rows, fulfilments), then the whole path end to
end: checkout opened through the service, coins "sent" on the sandbox page over HTTP, and the
sandbox's own IPNs reaching the live site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from checkout.blueprints.urls import return_urls
from checkout.extensions import db
from checkout.models import Notification, OrderStatus, Payment, PaymentEvent
from checkout.payments.service import Source, refresh, start_payment
from checkout.payments.states import PaymentStatus

S = PaymentStatus


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def payment(make_payment) -> Payment:
    """A PENDING CoinPayments payment of 12.50 USD = 0.15625 LTCT, as create leaves it."""
    return make_payment(
        gateway="coinpayments",
        amount=1250,
        currency="USD",
        gateway_reference="CP" + secrets.token_hex(12).upper(),
        crypto_amount=15625000,
        crypto_currency="LTCT",
        confirms_needed=2,
        confirms_received=0,
    )


def ipn(payment: Payment, **overrides: str | None) -> dict[str, str]:
    """The fields of an `ipn_type=api` IPN as CoinPayments sends them (protocols.md A.8)."""
    fields: dict[str, Any] = {
        "ipn_version": "1.0",
        "ipn_type": "api",
        "ipn_mode": "hmac",
        "ipn_id": secrets.token_hex(16),
        "merchant": "sandboxmerchant000000000000000001",
        "txn_id": payment.gateway_reference,
        "status": "100",
        "status_text": "Complete",
        "currency1": "USD",
        "currency2": "LTCT",
        "amount1": "12.50",
        "amount2": "0.15625000",
        "fee": "0.00078125",
        "email": "shopper@example.com",
        "item_name": "Test plan",
        "invoice": payment.ref,
        "custom": payment.order.ref,
        "received_amount": "0.15625000",
        "received_confirms": "2",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def post(client, app, body: bytes | dict, secret: str | None = None, signature: str | None = None):
    raw = urlencode(body).encode() if isinstance(body, dict) else body
    key = (secret or app.config["COINPAYMENTS_IPN_SECRET"]).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature != "":
        headers["HMAC"] = signature or hmac.new(key, raw, hashlib.sha512).hexdigest()
    return client.post("/ipn/coinpayments", data=raw, headers=headers)


def reload(payment: Payment) -> Payment:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Payment, payment.id)


def events(payment: Payment, kind: str | None = None) -> list[PaymentEvent]:
    query = db.select(PaymentEvent).filter_by(payment_id=payment.id).order_by(PaymentEvent.id)
    return [e for e in db.session.scalars(query).all() if kind is None or e.kind == kind]


def notifications() -> list[Notification]:
    return db.session.scalars(db.select(Notification).order_by(Notification.id)).all()


# -- accepted IPNs -----------------------------------------------------------------------------


def test_a_valid_ipn_completes_the_payment_and_fulfils_once(client, app, payment, fulfilments):
    response = post(client, app, ipn(payment))

    assert (response.status_code, response.text) == (200, "IPN OK")
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert payment.order.status == OrderStatus.PAID
    assert fulfilments == [(payment.ref, payment.order.ref)]
    (transition,) = events(payment, "transition")
    assert (transition.source, transition.old_status, transition.new_status) == (
        "ipn",
        "PENDING",
        "COMPLETED",
    )
    assert transition.raw_status == "100 Complete"
    (row,) = notifications()
    assert (row.outcome, row.payment_id, row.event_type) == ("processed", payment.id, "api:100")
    assert "email" not in row.payload and row.payload["txn_id"] == payment.gateway_reference


def test_coins_seen_keep_it_pending_with_confirmations(client, app, payment, fulfilments):
    response = post(
        client, app, ipn(payment, status="1", status_text="Funds received", received_confirms="1")
    )

    assert response.status_code == 200
    payment = reload(payment)
    assert (payment.status, payment.confirms_received) == (S.PENDING, 1)
    assert events(payment, "transition") == []
    assert notifications()[0].outcome == "processed"
    assert fulfilments == []


def test_a_duplicated_ipn_id_is_acknowledged_and_changes_nothing(client, app, payment, fulfilments):
    body = urlencode(ipn(payment)).encode()

    first = post(client, app, body)
    second = post(client, app, body)

    assert [(r.status_code, r.text) for r in (first, second)] == [(200, "IPN OK")] * 2
    assert reload(payment).status == S.COMPLETED
    assert len(notifications()) == 1
    assert len(events(payment, "transition")) == 1
    assert len(fulfilments) == 1


def test_out_of_order_100_then_0_does_not_regress(client, app, payment, fulfilments):
    post(client, app, ipn(payment, status="100"))
    response = post(client, app, ipn(payment, status="0", status_text="Waiting for buyer funds..."))

    assert response.status_code == 200
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert [e.kind for e in events(payment)] == ["transition", "refused"]
    assert [n.outcome for n in notifications()] == ["processed", "processed"]
    assert len(fulfilments) == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {"amount1": "12.00"},
            "gateway invoiced 12.00 USD, payment is for 12.50 USD: invoice mismatch",
        ),
        (
            {"currency1": "EUR"},
            "gateway invoiced 12.50 EUR, payment is for 12.50 USD: invoice mismatch",
        ),
        (
            {"received_amount": "0.20000000"},
            "gateway holds 0.20000000 LTCT, payment is for 0.15625000 LTCT: amount mismatch",
        ),
        (
            {"received_amount": "0.10000000"},
            "gateway holds 0.10000000 LTCT, payment is for 0.15625000 LTCT: amount mismatch",
        ),
        (
            {"currency2": "BTC", "received_amount": "0.15625000"},
            "gateway holds 0.15625000 BTC, payment is for 12.50 USD: currency mismatch",
        ),
    ],
    ids=["amount1", "currency1", "overpaid coin", "underpaid coin", "other coin"],
)
def test_wrong_amount_or_currency_is_flagged_not_completed(
    client, app, payment, fulfilments, overrides, reason
):
    response = post(client, app, ipn(payment, **overrides))

    assert response.status_code == 200
    payment = reload(payment)
    assert payment.status == S.PENDING
    assert payment.needs_review and payment.review_reason == reason
    assert payment.order.status == OrderStatus.OPEN
    assert [e.kind for e in events(payment)] == ["review"]
    assert notifications()[0].outcome == "processed"
    assert fulfilments == []


def test_an_unknown_txn_is_stored_and_acknowledged(client, app, payment, fulfilments):
    response = post(client, app, ipn(payment, txn_id="CPSOMEONEELSE0000000000000", invoice="x"))

    assert (response.status_code, response.text) == (200, "IPN OK")
    (row,) = notifications()
    assert (row.outcome, row.payment_id) == ("unknown_payment", None)
    assert reload(payment).status == S.PENDING
    assert events(payment) == []
    assert fulfilments == []


def test_an_ipn_without_invoice_is_matched_by_txn_id(client, app, payment, fulfilments):
    post(client, app, ipn(payment, invoice=None, custom=None))

    assert reload(payment).status == S.COMPLETED
    assert len(fulfilments) == 1


def test_other_ipn_types_are_stored_and_ignored(client, app, payment, fulfilments):
    response = post(client, app, ipn(payment, ipn_type="deposit", deposit_id="CDX1"))

    assert response.status_code == 200
    assert [(n.outcome, n.event_type) for n in notifications()] == [("ignored", "deposit")]
    assert reload(payment).status == S.PENDING
    assert fulfilments == []


def test_timeout_with_partial_coins_expires_and_is_flagged(client, app, payment, fulfilments):
    post(
        client,
        app,
        ipn(payment, status="-1", status_text="Cancelled / Timed Out", received_amount="0.05"),
    )

    payment = reload(payment)
    assert payment.status == S.EXPIRED
    assert payment.needs_review
    assert payment.review_reason.startswith(
        "timed out with 0.05000000 LTCT of 0.15625000 LTCT received"
    )
    assert [e.kind for e in events(payment)] == ["transition", "review"]
    assert fulfilments == []


def test_money_after_expiry_completes_late_and_flagged(client, app, make_payment, fulfilments):
    expired = make_payment(
        gateway="coinpayments",
        status=S.EXPIRED,
        gateway_reference="CPLATE000000000000000000000",
        crypto_amount=15625000,
        crypto_currency="LTCT",
    )

    post(client, app, ipn(expired))

    expired = reload(expired)
    assert (expired.status, expired.late, expired.needs_review) == (S.COMPLETED, True, True)
    assert len(fulfilments) == 1


# -- refused IPNs: 400, nothing stored, nothing changed ------------------------------------------

REFUSED = [
    ("badly signed", lambda p: {"body": ipn(p), "secret": "not-our-secret"}),
    ("missing HMAC", lambda p: {"body": ipn(p), "signature": ""}),
    ("foreign merchant", lambda p: {"body": ipn(p, merchant="someone-else")}),
    ("no merchant", lambda p: {"body": ipn(p, merchant=None)}),
    ("httpauth mode", lambda p: {"body": ipn(p, ipn_mode="httpauth")}),
    ("no ipn_id", lambda p: {"body": ipn(p, ipn_id=None)}),
    ("garbage", lambda p: {"body": b"\xff\xfe<xml>not a form</xml>\x00"}),
    ("tampered after signing", lambda p: {"body": ipn(p), "tamper": True}),
]


@pytest.mark.parametrize(("case", "make"), REFUSED, ids=[case for case, _ in REFUSED])
def test_refused_ipns_change_nothing(client, app, payment, fulfilments, case, make):
    spec = make(payment)
    body = spec["body"]
    raw = urlencode(body).encode() if isinstance(body, dict) else body
    signature = spec.get("signature")
    if spec.get("tamper"):
        key = app.config["COINPAYMENTS_IPN_SECRET"].encode()
        signature = hmac.new(key, raw, hashlib.sha512).hexdigest()
        raw = raw.replace(b"amount1=12.50", b"amount1=0.01")

    response = post(client, app, raw, secret=spec.get("secret"), signature=signature)

    assert response.status_code == 400, case
    assert notifications() == []
    assert reload(payment).status == S.PENDING
    assert events(payment) == []
    assert fulfilments == []


def test_an_oversized_body_is_413_and_changes_nothing(client, app, payment, fulfilments):
    padding = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)

    response = post(client, app, ipn(payment, item_name=padding))

    assert response.status_code == 413
    assert notifications() == []
    assert reload(payment).status == S.PENDING
    assert fulfilments == []


# -- end to end through the sandbox ------------------------------------------------------------


def open_payment(make_order) -> Payment:
    order = make_order(price=1250, currency="USD")
    payment = start_payment(
        order,
        "coinpayments",
        secrets.token_urlsafe(16),
        lambda ref: return_urls("coinpayments", ref),
    )
    return reload(payment)


def press(payment: Payment, action: str) -> requests.Response:
    """Press a button of the sandbox's hosted page (the form posts back to the page itself)."""
    response = requests.post(payment.checkout_url, data={"action": action}, timeout=5)
    assert response.status_code == 200, response.text
    return response


def test_end_to_end_pay_on_the_sandbox_page_and_the_ipn_completes_it(
    live_site, sandbox, make_order, fulfilments
):
    payment = open_payment(make_order)
    assert payment.status == S.PENDING
    assert payment.gateway_reference and payment.pay_address.startswith("tltc1q")

    press(payment, "send_full")
    press(payment, "confirm")
    page = press(payment, "confirm")
    sandbox.wait_notifications()

    assert "Complete" in page.text
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert (payment.confirms_received, payment.confirms_needed) == (2, 2)
    assert payment.order.status == OrderStatus.PAID and payment.order.fulfilment_code
    assert fulfilments == [(payment.ref, payment.order.ref)]
    assert [n.outcome for n in notifications()] == ["processed"] * 3
    assert [(e.source, e.new_status) for e in events(payment, "transition")] == [
        ("create", "PENDING"),
        ("ipn", "COMPLETED"),
    ]
    gateway_status = requests.get(payment.gateway_data["status_url"], timeout=5)
    assert "Complete" in gateway_status.text and "<button" not in gateway_status.text
    shop = requests.get(f"{live_site}/status/{payment.ref}/return", timeout=5)
    assert shop.status_code == 200 and shop.url == f"{live_site}/status/{payment.ref}"
    assert len(fulfilments) == 1


def test_end_to_end_late_coins_complete_an_expired_payment_once(
    live_site, sandbox, make_order, fulfilments
):
    payment = open_payment(make_order)

    sandbox.advance(3601)
    requests.get(payment.checkout_url, timeout=5)  # the sandbox notices the deadline passed
    sandbox.wait_notifications()
    assert reload(payment).status == S.EXPIRED

    press(payment, "send_late")
    sandbox.wait_notifications()

    payment = reload(payment)
    assert (payment.status, payment.late, payment.needs_review) == (S.COMPLETED, True, True)
    assert "late payment" in payment.review_reason
    assert [(e.source, e.new_status) for e in events(payment, "transition")] == [
        ("create", "PENDING"),
        ("ipn", "EXPIRED"),
        ("ipn", "COMPLETED"),
    ]
    assert fulfilments == [(payment.ref, payment.order.ref)]


def test_with_ipns_off_a_refresh_completes_it_from_get_tx_info(
    live_site, sandbox, make_order, fulfilments
):
    sandbox.knobs("coinpayments", notifications=False)
    payment = open_payment(make_order)
    press(payment, "send_full")
    press(payment, "confirm")
    press(payment, "confirm")

    outcome = refresh(reload(payment), Source.POLL)

    assert (outcome.old_status, outcome.new_status, outcome.fulfilled) == (
        S.PENDING,
        S.COMPLETED,
        True,
    )
    assert notifications() == []
    assert len(fulfilments) == 1
    assert reload(payment).order.status == OrderStatus.PAID
