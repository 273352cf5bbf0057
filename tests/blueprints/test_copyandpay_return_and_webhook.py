"""COPYandPAY through the site: checkout, our widget page, the shopper's return, and webhooks.

The site runs on a real port (live_site) so the sandbox's encrypted webhooks reach it. The
status comes only from the gateway's look-up: the return URL's `id`/`resourcePath` and a
webhook's body are triggers, never verdicts, so these tests forge both and check that nothing
moves unless HyperPay, asked, says so.
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from checkout.extensions import db
from checkout.gateways.copyandpay import settings as demo
from checkout.models import Notification, Order, Payment
from checkout.payments.states import PaymentStatus
from checkout.sandbox.copyandpay.notify import seal
from tests.blueprints.html_helpers import Element, parse, read_form
from tests.blueprints.return_helpers import come_back, events, notes, reload, transitions

S = PaymentStatus
APPROVED = "4200000000000000"
DECLINED = "4000000000000002"
KEY = demo.SANDBOX_WEBHOOK_KEY


@pytest.fixture(autouse=True)
def site(live_site: str) -> str:
    """Every test here runs with the site reachable by the sandbox's webhooks."""
    return live_site


def checkout(client, make_product) -> Payment:
    """Fill in the rendered checkout form, choose COPYandPAY and press Pay now."""
    product = make_product(price=1250, currency="USD")
    page = parse(client.get(f"/checkout/{product.slug}").data)
    form = read_form(page.by_id("paymentForm"))
    form.fill("email", "shopper@example.com").choose("gateway", "copyandpay")
    response = form.submit(client)
    assert response.status_code == 303, response.get_data(as_text=True)
    payment = db.session.scalar(db.select(Payment).order_by(Payment.id.desc()))
    assert payment.gateway == "copyandpay"
    assert response.headers["Location"].endswith(f"/pay/{payment.ref}/launch")
    return payment


def widget_form(client, payment: Payment) -> Element:
    page = parse(client.get(f"/pay/{payment.ref}/launch").data)
    form = page.find("form", class_="paymentWidgets")
    assert form is not None, "no <form class=paymentWidgets> on the widget page"
    return form


def pay(client, payment: Payment, card: str, sandbox) -> str:
    """Pay in the widget; returns the path+query the gateway sends the shopper back to.

    paymentWidgets.js turns our `<form class="paymentWidgets">` into a card form posting to the
    gateway: our form's action becomes its hidden shopperResultUrl, the first of data-brands its
    brand, and the shopper types the card. These are the fields that script renders.
    """
    form = widget_form(client, payment)
    fields = {
        "shopperResultUrl": form.get("action") or "",
        "paymentBrand": (form.get("data-brands") or "").split()[0],
        "card.number": card,
        "card.expiry": "12 / 34",
        "card.holder": "Test Holder",
        "card.cvv": "123",
    }
    response = requests.post(
        f"{sandbox.url}/v1/checkouts/{payment.gateway_reference}/payment",
        data=fields,
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302, response.text
    target = urlsplit(response.headers["Location"])
    return f"{target.path}?{target.query}"


def notifications() -> list[Notification]:
    db.session.expire_all()
    return db.session.scalars(db.select(Notification).order_by(Notification.id)).all()


def sealed(message: dict[str, Any], key: str = KEY) -> tuple[bytes, dict[str, str]]:
    """A delivery as HyperPay sends it: hex ciphertext as text/plain, IV and tag in headers."""
    body, iv, tag = seal(json.dumps(message).encode(), key, secrets.token_bytes(12))
    headers = {
        "Content-Type": "text/plain",
        "X-Initialization-Vector": iv,
        "X-Authentication-Tag": tag,
    }
    return body.encode(), headers


def deliver(client, body: bytes, headers: dict[str, str]):
    return client.post("/ipn/copyandpay", data=body, headers=headers)


def payment_record(sandbox, payment: Payment) -> dict[str, Any]:
    """The gateway's record of the checkout's payment, as the webhook's payload carries it."""
    response = requests.get(
        f"{sandbox.url}/v1/checkouts/{payment.gateway_reference}/payment",
        params={"entityId": demo.SANDBOX_ENTITY_ID},
        headers={"Authorization": f"Bearer {demo.SANDBOX_ACCESS_TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


# --- checkout and the widget page --------------------------------------------------------------


def test_checkout_prepares_a_checkout_and_the_widget_page_hosts_the_gateways_form(
    client, sandbox, make_product, site
):
    payment = checkout(client, make_product)

    assert payment.status == S.PENDING
    assert payment.gateway_reference.endswith(".sbx01-vm-tx01")
    page = parse(client.get(f"/pay/{payment.ref}/launch").data)
    [script] = [s for s in page.find_all("script") if "paymentWidgets.js" in (s.get("src") or "")]
    assert script.get("src") == (
        f"{sandbox.url}/v1/paymentWidgets.js?checkoutId={payment.gateway_reference}"
    )
    assert (script.get("integrity") or "").startswith("sha384-")
    assert script.get("crossorigin") == "anonymous"
    form = widget_form(client, payment)
    assert form.get("action") == f"{site}/status/{payment.ref}/return"
    assert form.get("data-brands") == "MADA VISA MASTER"
    [sent] = [
        r
        for r in requests.get(f"{sandbox.url}/_sandbox/copyandpay/requests", timeout=5).json()
        if r["path"] == "/v1/checkouts"
    ]
    assert sent["form"]["merchantTransactionId"] == payment.ref
    assert sent["form"]["amount"] == "12.50" and sent["form"]["paymentType"] == "DB"
    assert sent["form"]["shopperResultUrl"] == form.get("action")


# --- the return URL ----------------------------------------------------------------------------


def test_approved_card_return_completes_once_and_the_webhook_changes_nothing_more(
    client, sandbox, make_product, fulfilments
):
    payment = checkout(client, make_product)

    path = pay(client, payment, APPROVED, sandbox)
    assert f"id={payment.gateway_reference}" in path
    payment = come_back(client, path, payment)

    assert payment.status == S.COMPLETED
    assert f"returned from checkout {payment.gateway_reference}" in notes(payment)
    assert payment.order.status == "PAID"
    sandbox.wait_notifications()
    assert reload(payment).status == S.COMPLETED
    assert len(fulfilments) == 1
    [stored] = notifications()
    assert stored.outcome == "processed" and stored.payment_id == payment.id
    assert APPROVED[:6] not in json.dumps(stored.payload)  # no card data is kept
    assert "Paid" in client.get(f"/status/{payment.ref}").get_data(as_text=True)


def test_declined_card_fails_with_the_reason_and_the_order_stays_payable(
    client, sandbox, make_product, fulfilments
):
    payment = checkout(client, make_product)

    payment = come_back(client, pay(client, payment, DECLINED, sandbox), payment)

    assert payment.status == S.FAILED
    assert payment.status_message == (
        "Declined by the card issuer: transaction declined (invalid card)"
    )
    assert fulfilments == []
    page = client.get(f"/status/{payment.ref}").get_data(as_text=True)
    assert "Declined by the card issuer" in page
    assert f"/orders/{payment.order.ref}/pay" in page


@pytest.mark.parametrize(
    "query",
    [
        "id={ref}&resourcePath=/v1/checkouts/{ref}/payment",  # ours, but nobody paid yet
        "id=FORGED.sbx01-vm-tx01&resourcePath=/v1/checkouts/FORGED.sbx01-vm-tx01/payment",
        "id={ref}&resourcePath=/v1/checkouts/OTHER/payment",
        "",
    ],
    ids=["ours-unpaid", "forged-id", "mismatched-path", "missing"],
)
def test_a_return_before_any_payment_moves_nothing(
    client, sandbox, make_product, fulfilments, query
):
    payment = checkout(client, make_product)

    path = f"/status/{payment.ref}/return?" + query.format(ref=payment.gateway_reference)
    payment = come_back(client, path, payment)

    assert payment.status == S.PENDING
    assert [e.kind for e in events(payment)][-1] == "note"
    assert fulfilments == []


def test_a_return_naming_another_paid_checkout_does_not_pay_ours(
    client, sandbox, make_product, fulfilments
):
    """Someone paid their own checkout and replays its id/resourcePath on our return URL."""
    ours = checkout(client, make_product)
    theirs = checkout(client, make_product)
    path = pay(client, theirs, APPROVED, sandbox)
    sandbox.wait_notifications()
    query = urlsplit(path).query

    ours = come_back(client, f"/status/{ours.ref}/return?{query}", ours)

    assert ours.status == S.PENDING
    assert any("another checkout" in n for n in notes(ours))
    assert transitions(ours) == ["create"]
    assert [ref for ref, _ in fulfilments] == [theirs.ref]


def test_a_forged_success_return_after_a_decline_stays_failed(
    client, sandbox, make_product, fulfilments
):
    payment = checkout(client, make_product)
    path = pay(client, payment, DECLINED, sandbox)  # the genuine id and resourcePath

    payment = come_back(client, path + "&result.code=000.000.000", payment)

    assert payment.status == S.FAILED
    assert fulfilments == []


# --- webhooks ----------------------------------------------------------------------------------


@pytest.fixture
def paid_quietly(client, sandbox, make_product) -> tuple[Payment, dict[str, Any]]:
    """A payment made in the widget, the shopper gone, its webhook held back: the payload."""
    payment = checkout(client, make_product)
    sandbox.knobs("copyandpay", notifications=False)
    pay(client, payment, APPROVED, sandbox)
    return payment, payment_record(sandbox, payment)


def test_a_sealed_webhook_triggers_a_look_up_and_completes(client, paid_quietly, fulfilments):
    payment, record = paid_quietly
    body, headers = sealed({"type": "PAYMENT", "payload": record})

    response = deliver(client, body, headers)

    assert response.status_code == 200
    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert transitions(payment) == ["create", "ipn"]
    [stored] = notifications()
    assert stored.outcome == "processed" and stored.payment_id == payment.id
    assert stored.event_id == f"{record['id']}/{record['result']['code']}"
    assert "card" not in stored.payload["payload"]
    assert len(fulfilments) == 1


def test_a_sealed_webhook_claiming_failure_only_triggers_a_look_up(
    client, paid_quietly, fulfilments
):
    """The body says declined; HyperPay, asked, says paid: HyperPay wins."""
    payment, record = paid_quietly
    stale = {**record, "result": {"code": "800.100.151", "description": "declined"}}

    response = deliver(client, *sealed({"type": "PAYMENT", "payload": stale}))

    assert response.status_code == 200
    assert reload(payment).status == S.COMPLETED
    assert len(fulfilments) == 1


def test_a_sealed_webhook_claiming_success_for_an_unpaid_checkout_moves_nothing(
    client, sandbox, make_product, fulfilments
):
    payment = checkout(client, make_product)
    forged = {
        "id": "8ac7a4a000000000000000000",
        "paymentType": "DB",
        "amount": "12.50",
        "currency": "USD",
        "merchantTransactionId": payment.ref,
        "ndc": payment.gateway_reference,
        "result": {"code": "000.000.000", "description": "Transaction succeeded"},
    }

    response = deliver(client, *sealed({"type": "PAYMENT", "payload": forged}))

    assert response.status_code == 200
    assert reload(payment).status == S.PENDING
    assert fulfilments == []


def _tampered_tag(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    tag = headers["X-Authentication-Tag"]
    flipped = ("0" if tag[0] != "0" else "1") + tag[1:]
    return body, {**headers, "X-Authentication-Tag": flipped}


def _tampered_body(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    flipped = ("0" if body[:1] != b"0" else "1").encode() + body[1:]
    return flipped, headers


BROKEN_DELIVERIES = {
    "tag does not verify": _tampered_tag,
    "body altered": _tampered_body,
    "sealed with another key": None,  # built in the test
    "garbage body": lambda body, headers: (b"this is not a webhook", headers),
    "body not hex": lambda body, headers: (body[:-2] + b"zz", headers),
    "tag not hex": lambda body, headers: (
        body,
        {**headers, "X-Authentication-Tag": "x" * 32},
    ),
    "IV not hex": lambda body, headers: (
        body,
        {**headers, "X-Initialization-Vector": "not-hex!"},
    ),
    "tag header missing": lambda body, headers: (
        body,
        {k: v for k, v in headers.items() if k != "X-Authentication-Tag"},
    ),
    "short tag": lambda body, headers: (
        body,
        {**headers, "X-Authentication-Tag": headers["X-Authentication-Tag"][:16]},
    ),
}


@pytest.mark.parametrize("case", BROKEN_DELIVERIES)
def test_a_broken_or_forged_delivery_is_refused_and_nothing_is_stored(
    client, paid_quietly, fulfilments, case
):
    payment, record = paid_quietly
    message = {"type": "PAYMENT", "payload": record}
    breaker = BROKEN_DELIVERIES[case]
    if breaker is None:
        body, headers = sealed(message, key=secrets.token_hex(32))
    else:
        body, headers = breaker(*sealed(message))

    response = deliver(client, body, headers)

    assert response.status_code == 400
    assert reload(payment).status == S.PENDING
    assert notifications() == []
    assert transitions(payment) == ["create"]
    assert fulfilments == []


def test_a_duplicated_delivery_is_acknowledged_and_stored_once(client, paid_quietly, fulfilments):
    payment, record = paid_quietly
    body, headers = sealed({"type": "PAYMENT", "payload": record})

    first, second = deliver(client, body, headers), deliver(client, body, headers)
    # HyperPay's retry is sealed afresh (another IV): the same transaction and result code.
    third = deliver(client, *sealed({"type": "PAYMENT", "payload": record}))

    assert first.status_code == second.status_code == third.status_code == 200
    assert len(notifications()) == 1
    assert transitions(reload(payment)) == ["create", "ipn"]
    assert len(fulfilments) == 1


def test_a_delivery_for_a_transaction_we_do_not_know_is_acknowledged_and_changes_nothing(
    client, paid_quietly, fulfilments
):
    payment, record = paid_quietly
    stranger = {**record, "merchantTransactionId": "pay_unknown", "ndc": "UNKNOWN.sbx"}

    response = deliver(client, *sealed({"type": "PAYMENT", "payload": stranger}))

    assert response.status_code == 200
    assert [n.outcome for n in notifications()] == ["unknown_payment"]
    assert reload(payment).status == S.PENDING
    assert transitions(payment) == ["create"]
    assert fulfilments == []


def test_sandbox_deliveries_alone_complete_the_payment(client, sandbox, make_product, fulfilments):
    payment = checkout(client, make_product)

    pay(client, payment, APPROVED, sandbox)  # the shopper closes the tab instead of coming back
    sandbox.wait_notifications()

    payment = reload(payment)
    assert payment.status == S.COMPLETED
    assert db.session.get(Order, payment.order_id).status == "PAID"
    assert transitions(payment) == ["create", "ipn"]
    assert len(fulfilments) == 1
    assert all(d.done for d in sandbox.env.notifier.log)
