"""MPGS through the site: checkout, launch page, the shopper's return, cancel, and webhooks.

The site runs on a real port (live_site) so the sandbox's webhooks reach it. Whatever the return
URL or a webhook carries, the status comes only from Retrieve Order: these tests forge both and
check that nothing moves unless the gateway says so.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from checkout.extensions import db
from checkout.models import Notification, Order, Payment
from checkout.payments.service import Source, refresh
from checkout.payments.states import PaymentStatus
from checkout.sandbox import credentials
from tests.blueprints.html_helpers import parse, read_form
from tests.blueprints.return_helpers import come_back, events, notes, reload

S = PaymentStatus
APPROVED = "5123450000000008"
DECLINED = "4000000000000002"
SECRET = credentials.MPGS["notification_secret"]


@pytest.fixture(autouse=True)
def site(live_site: str) -> str:
    """Every test here runs with the site reachable by the sandbox's webhooks."""
    return live_site


def checkout(client, make_product) -> Payment:
    product = make_product(price=1250, currency="USD")
    page = parse(client.get(f"/checkout/{product.slug}").data)
    form = read_form(page.by_id("paymentForm")).fill("email", "shopper@example.com")
    response = form.choose("gateway", "mpgs").submit(client)
    assert response.status_code == 303, response.get_data(as_text=True)
    payment = db.session.scalar(db.select(Payment).order_by(Payment.id.desc()))
    assert response.headers["Location"].endswith(f"/pay/{payment.ref}/launch")
    return payment


def pay(payment: Payment, card: str) -> str:
    """Submit a card on the sandbox's hosted page; returns the path+query it sends us back to."""
    response = requests.post(
        payment.checkout_url,
        data={"cardNumber": card, "action": "pay"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302, response.text
    target = urlsplit(response.headers["Location"])
    return f"{target.path}?{target.query}" if target.query else target.path


def notifications() -> list[Notification]:
    db.session.expire_all()
    return db.session.scalars(db.select(Notification).order_by(Notification.id)).all()


def webhook(client, body: dict[str, Any], event_id: str, secret: str | None = SECRET):
    headers = {"X-Notification-Id": event_id, "X-Notification-Attempt": "1"}
    if secret is not None:
        headers["X-Notification-Secret"] = secret
    return client.post(
        "/ipn/mpgs", data=json.dumps(body), headers=headers, content_type="application/json"
    )


def transaction_body(sandbox, payment: Payment, txn_id: str = "1") -> dict[str, Any]:
    mid = credentials.MPGS["merchant_id"]
    response = requests.get(
        f"{sandbox.url}/api/rest/version/100/merchant/{mid}/order/{payment.ref}/transaction/{txn_id}",
        auth=(f"merchant.{mid}", credentials.MPGS["api_password"]),
        timeout=5,
    )
    assert response.status_code == 200
    return response.json()


# --- checkout and launch -------------------------------------------------------------------------


def test_checkout_opens_a_session_and_the_launch_page_keeps_the_secret(
    client, sandbox, make_product
):
    payment = checkout(client, make_product)

    assert payment.status == S.PENDING
    assert payment.gateway_reference.startswith("SESSION")
    assert payment.gateway_secret and len(payment.gateway_secret) == 16
    assert payment.gateway_data["session_version"]
    assert payment.checkout_url.endswith(
        f"/checkout/pay/{payment.gateway_reference}?checkoutVersion=1.0.0"
    )
    page = client.get(f"/pay/{payment.ref}/launch").get_data(as_text=True)
    assert f'src="{sandbox.url}/static/checkout/checkout.min.js"' in page
    assert f'data-session-id="{payment.gateway_reference}"' in page
    assert payment.checkout_url.replace("&", "&amp;") in page or payment.checkout_url in page
    assert payment.gateway_secret not in page
    status_page = client.get(f"/status/{payment.ref}").get_data(as_text=True)
    assert payment.gateway_secret not in status_page
    assert payment.gateway_secret not in client.get(f"/status/{payment.ref}.json").get_data(
        as_text=True
    )


# --- return --------------------------------------------------------------------------------------


def test_approved_card_return_completes_once_and_the_webhook_changes_nothing_more(
    client, sandbox, make_product, fulfilments
):
    payment = checkout(client, make_product)

    payment = come_back(client, pay(payment, APPROVED), payment)

    assert payment.status == S.COMPLETED
    assert "resultIndicator matches" in notes(payment)
    assert payment.order.status == "PAID"
    sandbox.wait_notifications()
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert len(fulfilments) == 1
    [stored] = notifications()
    assert stored.outcome == "processed" and stored.payment_id == payment.id
    assert APPROVED[:6] not in json.dumps(stored.payload)
    assert "Paid" in client.get(f"/status/{payment.ref}").get_data(as_text=True)


def test_declined_card_fails_with_the_reason_and_the_order_stays_payable(
    client, sandbox, make_product, fulfilments
):
    payment = checkout(client, make_product)

    payment = come_back(client, pay(payment, DECLINED), payment)

    assert payment.status == S.FAILED
    assert payment.status_message == "Card declined"
    assert "resultIndicator does not match" in notes(payment)
    assert fulfilments == []
    page = client.get(f"/status/{payment.ref}").get_data(as_text=True)
    assert "Card declined" in page
    assert f"/orders/{payment.order.ref}/pay" in page
    again = client.get(f"/orders/{payment.order.ref}/pay")
    assert again.status_code == 200 and 'value="mpgs"' in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ("resultIndicator=0000000000000000&sessionVersion=abc", "resultIndicator does not match"),
        ("resultIndicator=%3Cscript%3E", "resultIndicator does not match"),
        ("", "resultIndicator missing"),
        ("SECRET", "resultIndicator matches"),  # a leaked indicator, nobody paid
    ],
    ids=["forged", "garbage", "missing", "stolen-indicator"],
)
def test_a_return_before_any_payment_moves_nothing(
    client, sandbox, make_product, fulfilments, query, note
):
    payment = checkout(client, make_product)
    if query == "SECRET":
        query = f"resultIndicator={payment.gateway_secret}&sessionVersion=x"

    payment = come_back(client, f"/status/{payment.ref}/return?{query}", payment)

    assert payment.status == S.PENDING
    assert note in notes(payment)
    assert [e.kind for e in events(payment)] == ["transition", "note"]  # create, then the note
    assert fulfilments == []


def test_a_forged_success_return_after_a_decline_stays_failed(
    client, sandbox, make_product, fulfilments
):
    payment = checkout(client, make_product)
    pay(payment, DECLINED)  # the shopper never comes back; someone replays a forged success

    path = f"/status/{payment.ref}/return?resultIndicator={payment.gateway_secret}"
    payment = come_back(client, path, payment)

    assert payment.status == S.FAILED
    assert fulfilments == []


def test_a_forged_failure_return_after_a_payment_stays_paid(
    client, sandbox, make_product, fulfilments
):
    payment = checkout(client, make_product)
    pay(payment, APPROVED)

    payment = come_back(client, f"/status/{payment.ref}/return?resultIndicator=bad", payment)

    assert payment.status == S.COMPLETED
    assert "resultIndicator does not match" in notes(payment)
    sandbox.wait_notifications()
    assert len(fulfilments) == 1


def test_a_return_while_the_gateway_is_down_records_an_error_and_stays_pending(
    client, sandbox, make_product
):
    payment = checkout(client, make_product)
    sandbox.knobs("mpgs", notifications=False)
    path = pay(payment, APPROVED)
    sandbox.knobs("mpgs", error_rate=1.0)

    payment = come_back(client, path, payment)

    assert payment.status == S.PENDING
    assert [e.kind for e in events(payment)][-2:] == ["note", "error"]
    sandbox.knobs("mpgs", error_rate=0.0)
    refresh(reload(payment), Source.POLL)  # the sweep's next look, once MPGS is back
    assert reload(payment).status == S.COMPLETED


def test_cancel_on_the_hosted_page_lands_on_the_status_page_with_another_way_to_pay(
    client, sandbox, make_product
):
    payment = checkout(client, make_product)
    response = requests.post(
        payment.checkout_url, data={"action": "cancel"}, allow_redirects=False, timeout=5
    )
    target = urlsplit(response.headers["Location"])
    assert target.path == f"/status/{payment.ref}/cancel"

    back = client.get(target.path)

    assert back.status_code == 303
    assert parse_qs(urlsplit(back.headers["Location"]).query) == {"cancelled": ["1"]}
    page = client.get(f"/status/{payment.ref}?cancelled=1").get_data(as_text=True)
    assert "You left the payment page" in page
    assert f"/orders/{payment.order.ref}/pay" in page
    assert reload(payment).status == S.PENDING


def test_a_timed_out_hosted_page_leads_back_to_a_timeout_message(client, sandbox, make_product):
    payment = checkout(client, make_product)
    sandbox.advance(payment.expires_at.timestamp() - time.time() + 60)

    page = requests.get(payment.checkout_url, timeout=5)
    assert page.status_code == 410
    assert f"/status/{payment.ref}/timeout" in page.text

    back = client.get(f"/status/{payment.ref}/timeout")

    assert back.status_code == 303
    assert parse_qs(urlsplit(back.headers["Location"]).query) == {"timed_out": ["1"]}
    shown = client.get(f"/status/{payment.ref}?timed_out=1").get_data(as_text=True)
    assert "The payment page timed out" in shown
    assert events(payment)[-1].message == "the hosted payment page timed out"
    assert reload(payment).status == S.PENDING


# --- webhooks ------------------------------------------------------------------------------------


@pytest.fixture
def paid_quietly(client, sandbox, make_product) -> tuple[Payment, dict[str, Any]]:
    """A payment made at the gateway whose webhook we deliver by hand, and its body."""
    payment = checkout(client, make_product)
    sandbox.knobs("mpgs", notifications=False)
    pay(payment, APPROVED)
    return payment, transaction_body(sandbox, payment)


def test_a_valid_webhook_looks_the_order_up_and_completes(client, paid_quietly, fulfilments):
    payment, body = paid_quietly

    response = webhook(client, body, "n-1")

    assert response.status_code == 200
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert [e.source for e in events(payment) if e.kind == "transition"] == ["create", "ipn"]
    [stored] = notifications()
    assert stored.event_id == "n-1" and stored.outcome == "processed"
    assert (
        "sourceOfFunds" not in stored.payload or "provided" not in stored.payload["sourceOfFunds"]
    )
    assert len(fulfilments) == 1


@pytest.mark.parametrize("secret", ["wrong-secret", "", None], ids=["wrong", "empty", "missing"])
def test_a_webhook_with_a_bad_secret_is_refused_and_changes_nothing(
    client, paid_quietly, fulfilments, secret
):
    payment, body = paid_quietly

    response = webhook(client, body, "n-1", secret=secret)

    assert response.status_code == 400
    assert reload(payment).status == S.PENDING
    assert notifications() == []
    assert fulfilments == []


def test_a_webhook_without_an_id_is_looked_up_and_stored_once(client, paid_quietly, fulfilments):
    """Mastercard documents only X-Notification-Secret: the body's hash stands in for the id."""
    payment, body = paid_quietly
    raw = json.dumps(body)

    first, second = (
        client.post("/ipn/mpgs", data=raw, headers={"X-Notification-Secret": SECRET})
        for _ in range(2)
    )

    assert first.status_code == second.status_code == 200
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    [stored] = notifications()
    assert stored.event_id == "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    assert stored.outcome == "processed"
    assert len(fulfilments) == 1


def test_a_webhook_without_an_id_only_triggers_a_look_up(client, paid_quietly, fulfilments):
    """The body says the card failed; the gateway, asked, says paid: the gateway wins."""
    payment, body = paid_quietly
    stale = json.loads(json.dumps(body))
    stale["order"]["status"] = "FAILED"
    stale["result"] = "FAILURE"

    response = client.post(
        "/ipn/mpgs", data=json.dumps(stale), headers={"X-Notification-Secret": SECRET}
    )

    assert response.status_code == 200
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert [e.source for e in events(payment) if e.kind == "transition"] == ["create", "ipn"]
    assert len(fulfilments) == 1


def _nested(ref: str, depth: int) -> bytes:
    """A notification for `ref` carrying a list nested `depth` levels deep."""
    body = json.dumps({"order": {"id": ref}, "x": "@"})
    return body.replace('"@"', "[" * depth + "]" * depth).encode()


# Authentic secret, hostile body: each must be a 400 that stores and changes nothing.
HOSTILE_BODIES = {
    "nested beyond the stack": lambda ref: _nested(ref, 5000),
    "nested deeper than any gateway body": lambda ref: _nested(ref, 200),
    "not UTF-8": lambda ref: (
        json.dumps({"order": {"id": ref}}).encode().replace(b"pay", b"\xffpay")
    ),
    "order id a number": lambda ref: json.dumps({"order": {"id": 12}}).encode(),
    "order id a list": lambda ref: json.dumps({"order": {"id": [ref]}}).encode(),
    "a list": lambda ref: json.dumps([{"order": {"id": ref}}]).encode(),
}


@pytest.mark.parametrize("case", HOSTILE_BODIES)
def test_a_hostile_body_with_the_right_secret_is_refused_and_changes_nothing(
    client, paid_quietly, fulfilments, caplog, case
):
    payment, _body = paid_quietly

    response = client.post(
        "/ipn/mpgs",
        data=HOSTILE_BODIES[case](payment.ref),
        headers={"X-Notification-Secret": SECRET, "X-Notification-Id": "n-1"},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert reload(payment).status == S.PENDING
    assert notifications() == []
    assert fulfilments == []
    assert any("mpgs notification rejected" in r.getMessage() for r in caplog.records)


def test_a_duplicated_webhook_is_acknowledged_and_processed_once(client, paid_quietly, fulfilments):
    payment, body = paid_quietly

    first = webhook(client, body, "n-1")
    second = webhook(client, body, "n-1")

    assert first.status_code == second.status_code == 200
    assert len(notifications()) == 1
    assert len(fulfilments) == 1
    assert [e.kind for e in events(payment)].count("transition") == 2


def test_webhooks_out_of_order_cannot_undo_a_payment(client, sandbox, make_product, fulfilments):
    payment = checkout(client, make_product)
    sandbox.knobs("mpgs", notifications=False)
    pay(payment, APPROVED)
    paid_body = transaction_body(sandbox, payment)
    stale = json.loads(json.dumps(paid_body))
    stale["order"]["status"] = "FAILED"
    stale["result"] = "FAILURE"
    stale["response"]["gatewayCode"] = "DECLINED"

    assert webhook(client, paid_body, "n-2").status_code == 200
    assert webhook(client, stale, "n-1").status_code == 200  # older one, arriving late

    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert len(fulfilments) == 1
    assert [n.outcome for n in notifications()] == ["processed", "processed"]


def test_a_forged_paid_webhook_for_an_unpaid_order_moves_nothing(
    client, sandbox, make_product, fulfilments
):
    payment = checkout(client, make_product)
    forged = {
        "merchant": credentials.MPGS["merchant_id"],
        "order": {"id": payment.ref, "status": "CAPTURED", "totalCapturedAmount": 12.5},
        "result": "SUCCESS",
        "response": {"gatewayCode": "APPROVED"},
        "transaction": {"id": "1", "type": "PAYMENT", "amount": 12.5, "currency": "USD"},
    }

    assert webhook(client, forged, "n-9").status_code == 200

    assert reload(payment).status == S.PENDING
    assert fulfilments == []


def test_a_webhook_for_an_order_we_do_not_know_is_acknowledged(client):
    body = {"merchant": credentials.MPGS["merchant_id"], "order": {"id": "pay_unknown"}}

    assert webhook(client, body, "n-1").status_code == 200
    assert [n.outcome for n in notifications()] == ["unknown_payment"]


def test_sandbox_deliveries_alone_complete_the_payment(client, sandbox, make_product, fulfilments):
    payment = checkout(client, make_product)

    pay(payment, APPROVED)  # the shopper closes the tab instead of coming back
    sandbox.wait_notifications()

    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert db.session.get(Order, payment.order_id).status == "PAID"
    assert len(fulfilments) == 1
    assert all(d.done for d in sandbox.env.notifier.log)
