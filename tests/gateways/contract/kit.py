"""Per-gateway adapters of the contract kit: how to make each sandbox say what a test needs.

The contract tests (test_contract.py) are the same for every gateway. What differs is how a
sandbox is made to answer an unknown status, to report money of another amount or currency, or
to take a payment at all, and what a forged notification of that gateway looks like. Each
gateway has one adapter here, which reaches its sandbox through the sandbox app's own store and
its sandbox-only routes (`/_sandbox/<name>/...`), and the gateway only through its public
Gateway methods: never through the gateway package's internal modules, which may move.

A configured gateway without an adapter fails the kit, so adding a gateway means adding its
adapter (a third-party package calls `register` from its own test suite).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from flask import Flask

from checkout.models import Payment
from checkout.money import Money
from checkout.sandbox.copyandpay.notify import seal
from checkout.sandbox.stripe.notify import sign as stripe_signature

#: keys that hold a secret in some gateway's answers and must never be kept
SECRET_KEYS = ("successIndicator", "client_secret")


class Tamper(StrEnum):
    """How a gateway's "paid" answer differs from what the payment asked for."""

    AMOUNT = "amount"
    CURRENCY = "currency"


@dataclass(frozen=True)
class SandboxHandle:
    """The running sandbox app: its URL and the in-memory stores of its emulators."""

    url: str
    app: Flask

    def store(self, name: str) -> Any:
        return self.app.extensions[f"sandbox_{name}"]

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        response = requests.post(self.url + path, timeout=5, **kwargs)
        response.raise_for_status()
        return response


@dataclass(frozen=True)
class Forgery:
    """A notification that must not verify: what is wrong with it, its headers and body."""

    label: str
    headers: dict[str, str]
    body: bytes


def tampered(money: Money, tamper: Tamper | None) -> Money:
    """`money` as a dishonest answer would report it: a unit short, or in another currency."""
    if tamper is Tamper.AMOUNT:
        return Money(money.amount - 100, money.currency)
    if tamper is Tamper.CURRENCY:
        return Money(money.amount, "EUR" if money.currency != "EUR" else "USD")
    return money


class Adapter:
    """What the contract kit needs to know and do for one gateway."""

    name: ClassVar[str]
    #: whether a second create for the same payment returns the first checkout (an idempotency
    #: key); False when the gateway has none and the second checkout is harmless instead
    idempotent_create: ClassVar[bool]
    #: one line: how a retried create behaves, as the gateway's docs say
    retry_note: ClassVar[str]
    #: the ways this sandbox can report money that is not what was asked for
    tamperings: ClassVar[tuple[Tamper, ...]] = (Tamper.AMOUNT, Tamper.CURRENCY)
    #: one line: why a tampering is missing from `tamperings`, if one is
    tampering_note: ClassVar[str] = ""

    def checkouts_for(self, sandbox: SandboxHandle, payment: Payment) -> list[str]:
        """The checkouts the gateway holds that carry this payment's ref."""
        raise NotImplementedError

    def answer_unknown_status(self, sandbox: SandboxHandle, payment: Payment) -> None:
        """Make the gateway's next look-up of `payment` answer a status it never documented."""
        raise NotImplementedError

    def pay(self, sandbox: SandboxHandle, payment: Payment, tamper: Tamper | None) -> None:
        """Make the gateway say `payment` is paid: honestly, or with `tamper`ed money."""
        raise NotImplementedError

    def forgeries(self, payment: Payment, config: Mapping[str, Any]) -> list[Forgery]:
        """Notifications claiming `payment` was paid that must not verify under `config`."""
        raise NotImplementedError


ADAPTERS: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    ADAPTERS[adapter.name] = adapter
    return adapter


def _wrong(secret: str) -> str:
    """Another value of the same shape as `secret` (hex stays hex, so only the value is wrong)."""
    flipped = "0" if secret[-1:] != "0" else "1"
    return secret[:-1] + flipped


# -- CoinPayments ---------------------------------------------------------------------------


class CoinPayments(Adapter):
    name = "coinpayments"
    idempotent_create = False
    retry_note = (
        "no idempotency key (docs/coinpayments.md): a retry opens a second transaction with our "
        "ref as invoice, whose address the shopper never saw and which the IPN ties back to us"
    )
    tamperings = (Tamper.AMOUNT,)
    tampering_note = (
        "the coin and the invoice currency are fixed by our create; the shopper can only send "
        "too little (or too much) coin"
    )

    def checkouts_for(self, sandbox: SandboxHandle, payment: Payment) -> list[str]:
        store = sandbox.store(self.name)
        with store.lock:
            return [t.txn_id for t in store.txns.values() if t.extra.get("invoice") == payment.ref]

    def answer_unknown_status(self, sandbox: SandboxHandle, payment: Payment) -> None:
        store = sandbox.store(self.name)
        with store.lock:
            store.txns[payment.gateway_reference].status = 42  # between 4 and 99: undocumented

    def pay(self, sandbox: SandboxHandle, payment: Payment, tamper: Tamper | None) -> None:
        """The hosted page's buttons: all the coins, confirmed; or too little, then time is up."""
        if tamper is Tamper.AMOUNT:
            actions = ("send_short", "expire")
        else:
            actions = ("send_full",) + ("confirm",) * (payment.confirms_needed or 0)
        query = parse_qs(urlsplit(payment.checkout_url).query)
        for action in actions:
            sandbox.post(
                "/index.php",
                data={"id": query["id"][0], "key": query["key"][0], "action": action},
                headers={"Accept": "application/json"},
            )

    def forgeries(self, payment: Payment, config: Mapping[str, Any]) -> list[Forgery]:
        fields = {
            "ipn_version": "1.0",
            "ipn_type": "api",
            "ipn_mode": "hmac",
            "ipn_id": secrets.token_hex(16),
            "merchant": config["COINPAYMENTS_MERCHANT_ID"],
            "txn_id": payment.gateway_reference or "CPTEST",
            "invoice": payment.ref,
            "status": "100",
            "status_text": "Complete",
            "currency1": payment.currency,
            "amount1": payment.money.decimal_str,
            "currency2": str(config["COINPAYMENTS_CURRENCY2"]),
            "amount2": "0.01000000",
            "received_amount": "0.01000000",
            "received_confirms": "3",
        }
        body = urlencode(fields).encode()
        secret = str(config["COINPAYMENTS_IPN_SECRET"])

        def signed(key: str, data: bytes) -> dict[str, str]:
            digest = hmac.new(key.encode(), data, hashlib.sha512).hexdigest()
            return {"Content-Type": "application/x-www-form-urlencoded", "HMAC": digest}

        tampered_body = body.replace(b"amount1=", b"amount1=9")
        return [
            Forgery("signed with another IPN secret", signed(_wrong(secret), body), body),
            Forgery("no HMAC header", {"Content-Type": "application/x-www-form-urlencoded"}, body),
            Forgery("body changed after signing", signed(secret, body), tampered_body),
        ]


# -- MPGS -----------------------------------------------------------------------------------


class Mpgs(Adapter):
    name = "mpgs"
    idempotent_create = False
    retry_note = (
        "no idempotency key on sessions (docs/mpgs.md): a retry opens a second session for the "
        "same order id, our ref, so whatever is paid is one order Retrieve Order reports in full"
    )

    def checkouts_for(self, sandbox: SandboxHandle, payment: Payment) -> list[str]:
        store = sandbox.store(self.name)
        with store.lock:
            return [s.id for s in store.sessions.values() if s.order.get("id") == payment.ref]

    def answer_unknown_status(self, sandbox: SandboxHandle, payment: Payment) -> None:
        sandbox.post(f"/_sandbox/mpgs/orders/{payment.ref}", json={"status": "RECONSIDERED"})

    def pay(self, sandbox: SandboxHandle, payment: Payment, tamper: Tamper | None) -> None:
        """A captured order (the sandbox's force route), of the payment's money or not."""
        paid = tampered(payment.money, tamper)
        amount = paid.decimal_str
        sandbox.post(
            f"/_sandbox/mpgs/orders/{payment.ref}",
            json={
                "status": "CAPTURED",
                "currency": paid.currency,
                "amount": amount,
                "totalAuthorizedAmount": amount,
                "totalCapturedAmount": amount,
            },
        )

    def forgeries(self, payment: Payment, config: Mapping[str, Any]) -> list[Forgery]:
        body = json.dumps(
            {
                "merchant": config["MPGS_MERCHANT_ID"],
                "order": {
                    "id": payment.ref,
                    "status": "CAPTURED",
                    "amount": payment.money.decimal_str,
                    "currency": payment.currency,
                },
                "result": "SUCCESS",
                "transaction": {"id": "1", "type": "PAYMENT"},
            }
        ).encode()
        base = {"Content-Type": "application/json", "X-Notification-Id": secrets.token_hex(16)}
        wrong = _wrong(str(config["MPGS_NOTIFICATION_SECRET"]))
        return [
            Forgery("another notification secret", {**base, "X-Notification-Secret": wrong}, body),
            Forgery("no X-Notification-Secret", base, body),
        ]


# -- Stripe ---------------------------------------------------------------------------------


class Stripe(Adapter):
    name = "stripe"
    idempotent_create = True
    retry_note = "Idempotency-Key from our ref: Stripe replays the first session (docs/stripe.md)"

    def checkouts_for(self, sandbox: SandboxHandle, payment: Payment) -> list[str]:
        state = sandbox.store(self.name)
        with state.lock:
            return [
                s["id"]
                for s in state.sessions.values()
                if s.get("client_reference_id") == payment.ref
            ]

    def answer_unknown_status(self, sandbox: SandboxHandle, payment: Payment) -> None:
        state = sandbox.store(self.name)
        with state.lock:
            state.sessions[payment.gateway_reference].update(
                status="complete", payment_status="awaiting_review"
            )

    def pay(self, sandbox: SandboxHandle, payment: Payment, tamper: Tamper | None) -> None:
        """Pay on the hosted page with the test card; a tampered session then says otherwise."""
        form = {
            "method": "card",
            "cardNumber": "4242 4242 4242 4242",
            "cardExpiry": "12 / 34",
            "cardCvc": "123",
        }
        requests.post(payment.checkout_url, data=form, allow_redirects=False, timeout=5)
        paid = tampered(payment.money, tamper)
        state = sandbox.store(self.name)
        with state.lock:
            session = state.sessions[payment.gateway_reference]
            assert session["payment_status"] == "paid", session
            session.update(amount_total=paid.amount, currency=paid.currency.lower())

    def forgeries(self, payment: Payment, config: Mapping[str, Any]) -> list[Forgery]:
        event = {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "livemode": False,
            "data": {
                "object": {
                    "id": payment.gateway_reference or "cs_test_forged",
                    "object": "checkout.session",
                    "client_reference_id": payment.ref,
                    "status": "complete",
                    "payment_status": "paid",
                    "amount_total": payment.amount,
                    "currency": payment.currency.lower(),
                }
            },
        }
        body = json.dumps(event).encode()
        secret = str(config["STRIPE_WEBHOOK_SECRET"])
        now = int(time.time())
        tolerance = int(config["STRIPE_WEBHOOK_TOLERANCE"])

        def signed(signature: str) -> dict[str, str]:
            return {"Content-Type": "application/json", "Stripe-Signature": signature}

        return [
            Forgery(
                "another webhook secret", signed(stripe_signature(body, now, _wrong(secret))), body
            ),
            Forgery("no Stripe-Signature", {"Content-Type": "application/json"}, body),
            Forgery(
                "body changed after signing",
                signed(stripe_signature(body, now, secret)),
                body.replace(b'"paid"', b'"paid" '),
            ),
            Forgery(
                "a replay older than the tolerance",
                signed(stripe_signature(body, now - tolerance - 60, secret)),
                body,
            ),
        ]


# -- HyperPay COPYandPAY --------------------------------------------------------------------

#: OPPWA's "successfully processed" code in test mode (docs/copyandpay.md)
_APPROVED = ("000.100.110", "Request successfully processed in 'Merchant in Integrator Test Mode'")


class CopyAndPay(Adapter):
    name = "copyandpay"
    idempotent_create = False
    retry_note = (
        "no idempotency key (docs/copyandpay.md): a retry prepares a second checkout whose id "
        "the shopper never saw; each carries our ref as merchantTransactionId for the report"
    )

    def checkouts_for(self, sandbox: SandboxHandle, payment: Payment) -> list[str]:
        store = sandbox.store(self.name)
        with store.lock:
            return [
                c.id for c in store.checkouts.values() if c.merchant_transaction_id == payment.ref
            ]

    def answer_unknown_status(self, sandbox: SandboxHandle, payment: Payment) -> None:
        self._record(sandbox, payment, ("000.999.999", "a code in no documented group"), None)

    def pay(self, sandbox: SandboxHandle, payment: Payment, tamper: Tamper | None) -> None:
        """A debit on the checkout, as the widget leaves it, of the payment's money or not."""
        self._record(sandbox, payment, _APPROVED, tamper)

    def _record(
        self,
        sandbox: SandboxHandle,
        payment: Payment,
        result: tuple[str, str],
        tamper: Tamper | None,
    ) -> None:
        paid = tampered(payment.money, tamper)
        store = sandbox.store(self.name)
        with store.lock:
            checkout = store.checkouts[payment.gateway_reference]
            payment_id = "8ac7a4a" + secrets.token_hex(12) + "0"
            store.payments[payment_id] = {
                "id": payment_id,
                "paymentType": "DB",
                "paymentBrand": "VISA",
                "amount": paid.decimal_str,
                "currency": paid.currency,
                "merchantTransactionId": payment.ref,
                "result": {"code": result[0], "description": result[1]},
                "card": {"bin": "420000", "last4Digits": "0000", "holder": "Jane Jones"},
                "customer": {"email": "shopper@example.com", "ip": "192.0.2.1"},
                "ndc": checkout.id,
            }
            checkout.payment_ids.append(payment_id)

    def forgeries(self, payment: Payment, config: Mapping[str, Any]) -> list[Forgery]:
        plaintext = json.dumps(
            {
                "type": "PAYMENT",
                "payload": {
                    "id": "8ac7a4a" + secrets.token_hex(12) + "0",
                    "paymentType": "DB",
                    "amount": payment.money.decimal_str,
                    "currency": payment.currency,
                    "merchantTransactionId": payment.ref,
                    "result": {"code": _APPROVED[0], "description": _APPROVED[1]},
                    "ndc": payment.gateway_reference or "",
                },
            }
        ).encode()
        key = str(config["COPYANDPAY_WEBHOOK_KEY"])

        def sealed(hex_key: str) -> tuple[dict[str, str], bytes]:
            body, iv, tag = seal(plaintext, hex_key, secrets.token_bytes(12))
            headers = {
                "Content-Type": "text/plain",
                "X-Initialization-Vector": iv,
                "X-Authentication-Tag": tag,
            }
            return headers, body.encode()

        wrong_headers, wrong_body = sealed(_wrong(key))
        headers, body = sealed(key)
        flipped = {**headers, "X-Authentication-Tag": _wrong(headers["X-Authentication-Tag"])}
        no_tag = {k: v for k, v in headers.items() if k != "X-Authentication-Tag"}
        return [
            Forgery("sealed with another webhook key", wrong_headers, wrong_body),
            Forgery("authentication tag changed", flipped, body),
            Forgery("no X-Authentication-Tag", no_tag, body),
        ]


for _adapter in (CoinPayments(), Mpgs(), Stripe(), CopyAndPay()):
    register(_adapter)
