"""'My orders': the orders placed from this browser, newest first.

There are no shopper accounts. The list comes from the order refs kept in this browser's signed
session cookie, so no URL can list anyone else's orders.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, render_template

from ..extensions import db
from ..gateways.registry import option_for
from ..models import Order, OrderStatus, Payment, utcnow
from ..payments.states import WORDS, PaymentStatus
from .session_orders import remembered
from .status import coins_received

bp = Blueprint("orders", __name__)


@dataclass(frozen=True)
class OrderRow:
    """One line of the list: the order and the payment that best describes where it stands."""

    order: Order
    payment: Payment | None  # the paying payment, else the latest attempt
    badge: str  # CSS/status key of the badge
    words: str  # the badge text
    gateway_label: str | None
    can_pay: bool  # offer "Pay" / "Pay another way"
    waiting: bool = False  # a payment is under way: its page is the main action, paying again
    # comes second, with the same warning about paying twice as on the status page
    note: str | None = None  # what arrived so far, when the gateway said (crypto)


@bp.get("/orders")
def mine() -> str:
    refs = remembered()
    orders: list[Order] = []
    if refs:
        orders = list(
            db.session.scalars(
                db.select(Order)
                .where(Order.ref.in_(refs))
                .order_by(Order.created_at.desc(), Order.id.desc())
            ).all()
        )
    return render_template("orders/orders.html", rows=[_row(order) for order in orders])


def _row(order: Order) -> OrderRow:
    payment = _describing_payment(order)
    option = option_for(payment.gateway, current_app.config) if payment else None
    label = option.label if option else (payment.gateway if payment else None)
    if order.status == OrderStatus.PAID:
        return OrderRow(order, payment, "completed", "Paid", label, can_pay=False)
    if payment is None:
        return OrderRow(order, None, "open", "Not paid yet", None, can_pay=True)
    status = PaymentStatus(payment.status)
    if status == PaymentStatus.CREATED:
        # The gateway never opened a checkout (it was down): nothing is under way.
        return OrderRow(order, payment, "open", "Not paid yet", label, can_pay=True)
    coins = coins_received(payment)
    coins_arrived = coins is not None or (payment.confirms_received or 0) > 0
    can_pay = status != PaymentStatus.COMPLETED and not (
        coins_arrived and status == PaymentStatus.PENDING
    )
    note = None
    if coins is not None and payment.crypto_money is not None:
        note = f"{coins} of {payment.crypto_money} arrived"
    return OrderRow(
        order,
        payment,
        status.value.lower(),
        WORDS[status],
        label,
        can_pay,
        waiting=_under_way(payment),
        note=note,
    )


def _under_way(payment: Payment) -> bool:
    """Still waiting for the shopper's money: a pending payment whose page or address is live."""
    if payment.status != PaymentStatus.PENDING:
        return False
    return payment.expires_at is None or payment.expires_at > utcnow()


def _describing_payment(order: Order) -> Payment | None:
    if order.paid_by_payment_id is not None:
        for payment in order.payments:
            if payment.id == order.paid_by_payment_id:
                return payment
    return order.payments[-1] if order.payments else None


def register(app: Flask) -> None:
    app.register_blueprint(bp)
