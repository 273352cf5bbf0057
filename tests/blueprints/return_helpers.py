"""What the return-and-webhook tests of every gateway read back: the payment and its timeline."""

from __future__ import annotations

from checkout.extensions import db
from checkout.models import Payment, PaymentEvent


def come_back(client, path: str, payment: Payment) -> Payment:
    """Follow the gateway's return to our site; it always lands on the status page."""
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/status/{payment.ref}")
    return reload(payment)


def reload(payment: Payment) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment.id)


def events(payment: Payment) -> list[PaymentEvent]:
    db.session.expire_all()
    return db.session.scalars(
        db.select(PaymentEvent).filter_by(payment_id=payment.id).order_by(PaymentEvent.id)
    ).all()


def notes(payment: Payment) -> list[str]:
    return [e.message for e in events(payment) if e.kind == "note"]


def transitions(payment: Payment) -> list[str]:
    return [e.source for e in events(payment) if e.kind == "transition"]
