"""What happens when an order is paid: here, issuing the eSIM activation code.

It runs from the `payment_completed` signal, which the funnel sends once per order, after the
commit of the transition that paid it. A real shop would call its provisioning API or queue an
e-mail here; the conditional update keeps even a misbehaving caller from issuing two codes.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import update

from ..extensions import db
from ..models import Order, Payment
from ..payments.signals import payment_completed

log = logging.getLogger(__name__)


def connect() -> None:
    payment_completed.connect(_fulfil, weak=False)


def _fulfil(payment: Payment, order: Order) -> None:
    code = "LPA:1$esim.tollgate.test$" + secrets.token_hex(8).upper()
    result = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.fulfilment_code.is_(None))
        .values(fulfilment_code=code)
    )
    db.session.commit()
    if result.rowcount == 1:
        log.info("payment %s: order %s paid and fulfilled", payment.ref, order.ref)
