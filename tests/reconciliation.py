"""Helpers for the reconciliation tests: open real checkouts at the sandbox, pay them there the
way a shopper would (hosted page forms), and count the API calls each gateway client makes."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from checkout.blueprints.urls import return_urls
from checkout.extensions import db
from checkout.gateways.registry import get_gateway
from checkout.models import Order, Payment, PaymentEvent, Product, utcnow
from checkout.payments.service import start_payment
from tests.conftest import Sandbox

GATEWAYS = ("coinpayments", "mpgs", "stripe")

# The one method through which each client sends every API request.
_API_METHOD = {"coinpayments": "call", "mpgs": "_call", "stripe": "_call"}


def quiet(sandbox: Sandbox, *gateways: str) -> None:
    """No notifications: the sweep has to find the truth on its own."""
    for name in gateways or GATEWAYS:
        sandbox.knobs(name, notifications=False)


def open_payments(
    app: Flask, gateway: str, n: int, *, price: int = 1250, currency: str = "USD"
) -> list[str]:
    """`n` orders with a real hosted checkout each at the sandbox (status PENDING); their refs."""
    refs = []
    # a context of its own: pytest-flask keeps a request context pushed for the whole test
    with app.app_context(), app.test_request_context():
        product = Product(
            slug=f"plan-{secrets.token_hex(4)}",
            name="Sweep test plan",
            region="Testland",
            data_mb=1024,
            validity_days=7,
            price=price,
            currency=currency,
        )
        db.session.add(product)
        db.session.commit()
        for _ in range(n):
            order = Order(
                product_id=product.id, email="shopper@example.com", amount=price, currency=currency
            )
            db.session.add(order)
            db.session.commit()
            payment = start_payment(
                order, gateway, secrets.token_hex(16), lambda ref: return_urls(gateway, ref)
            )
            refs.append(payment.ref)
    return refs


def due_now() -> None:
    """Make every open payment due (the funnel schedules a new one's first check 30 s ahead)."""
    db.session.execute(
        update(Payment).where(Payment.status.in_(("PENDING", "CREATED"))).values(next_check_at=None)
    )
    db.session.commit()


def checked_ago(ref: str, seconds: float, status: str | None = None) -> None:
    """Say the payment was last looked up `seconds` ago (inside or past the coalesce window),
    and, with `status`, that this look-up left it there (a final status, as a test needs)."""
    values: dict[str, Any] = {"last_checked_at": utcnow() - timedelta(seconds=seconds)}
    if status is not None:
        values["status"] = status
    db.session.execute(update(Payment).where(Payment.ref == ref).values(**values))
    db.session.commit()


def payment(ref: str) -> Payment:
    """The payment as stored now (call inside an app context)."""
    db.session.expire_all()
    found = db.session.scalar(db.select(Payment).filter_by(ref=ref))
    assert found is not None, ref
    return found


def events(ref: str, **filters: Any) -> list[PaymentEvent]:
    row = payment(ref)
    query = db.select(PaymentEvent).filter_by(payment_id=row.id, **filters)
    return list(db.session.scalars(query.order_by(PaymentEvent.id)))


def completions(ref: str) -> list[PaymentEvent]:
    """Transition events into COMPLETED: exactly one per paid payment, whatever the races."""
    return events(ref, kind="transition", new_status="COMPLETED")


def pay(sandbox: Sandbox, gateway: str, checkout_url: str, gateway_reference: str) -> None:
    """Pay the full amount on the gateway's hosted page, as the shopper would."""
    if gateway == "coinpayments":
        _coinpayments_action(sandbox, checkout_url, "send_full")
        view = _coinpayments_action(sandbox, checkout_url, "confirm")
        while view["status"] < 100:
            view = _coinpayments_action(sandbox, checkout_url, "confirm")
    elif gateway == "mpgs":
        answer = requests.post(
            f"{sandbox.url}/checkout/pay/{gateway_reference}",
            data={"cardNumber": "5123450000000008"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code in (200, 302, 303), answer.text[:300]
    elif gateway == "stripe":
        answer = requests.post(
            f"{sandbox.url}/c/pay/{gateway_reference}",
            data={"cardNumber": "4242424242424242", "cardExpiry": "12/40", "cardCvc": "123"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code in (200, 302, 303), answer.text[:300]
    else:  # pragma: no cover - a new gateway needs its hosted-page recipe here
        raise AssertionError(gateway)


def pay_ref(sandbox: Sandbox, ref: str) -> None:
    row = payment(ref)
    pay(sandbox, row.gateway, row.checkout_url or "", row.gateway_reference or "")


def send_late(sandbox: Sandbox, checkout_url: str) -> None:
    """CoinPayments: the coins arrive after the deadline (the timer has run out there too)."""
    _coinpayments_action(sandbox, checkout_url, "send_late")


def _coinpayments_action(sandbox: Sandbox, checkout_url: str, action: str) -> dict[str, Any]:
    query = parse_qs(urlsplit(checkout_url).query)
    answer = requests.post(
        f"{sandbox.url}/index.php",
        data={"id": query["id"][0], "key": query["key"][0], "action": action},
        headers={"Accept": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()


class GatewayCalls:
    """Counts every API request an app's gateway clients send (wraps each client's one door)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.batches: list[tuple[str, tuple[str, ...]]] = []  # (gateway, refs) per fetch_statuses
        self._lock = threading.Lock()

    def watch(self, app: Flask, *gateways: str) -> GatewayCalls:
        for name in gateways or GATEWAYS:
            client = get_gateway(name, app)
            setattr(
                client, _API_METHOD[name], self._counted(name, getattr(client, _API_METHOD[name]))
            )
            original_batch = client.fetch_statuses

            def batch(payments: Any, _name: str = name, _original: Callable = original_batch):
                payments = list(payments)
                with self._lock:
                    self.batches.append((_name, tuple(p.ref for p in payments)))
                return _original(payments)

            client.fetch_statuses = batch  # type: ignore[method-assign]
        return self

    def _counted(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
            return method(*args, **kwargs)

        return counted

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def polled_refs(self) -> Counter[str]:
        """How many times each payment was put in a batch look-up."""
        return Counter(ref for _, refs in self.batches for ref in refs)


def follow_sweep(
    client: FlaskClient, location: str, headers: dict[str, str], give_up_after: float
) -> dict[str, Any]:
    """Follow a cron-started sweep's progress URL until it is no longer running.

    The bound only keeps a broken run from hanging the suite; it is not a speed check.
    """
    give_up = time.monotonic() + give_up_after
    while True:
        body = client.get(location, headers=headers).json
        if body["state"] != "running" or time.monotonic() > give_up:
            return body
        time.sleep(0.05)
