"""What the shopper's status page and its JSON poll read about a payment: one SELECT, no session.

These are the site's most frequent requests (an open tab polls every few seconds), and they only
show rows. So they read the columns they show, with the order's and the product's, in one
statement on an autocommit connection (checkout/db_reads.py) into plain frozen records, instead
of three ORM entities in a transaction: no BEGIN/ROLLBACK round trips, no identity map, and
none of the columns the shopper must never see (gateway_secret, last_raw) is even read.

A poll that must ask the gateway loads the ORM payment and goes through the funnel, as every
other look-up does; these records decide nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from ..db_reads import read_one
from ..models import Order, Payment, Product


@dataclass(frozen=True, slots=True)
class OrderFacts:
    id: int
    ref: str
    status: str
    paid_by_payment_id: int | None
    paid_at: datetime | None
    fulfilment_code: str | None
    fulfilment_problem: str | None
    esim_iccid: str | None
    product_name: str


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """A payment's row as the shopper's views use it; attribute names are the model's."""

    id: int
    ref: str
    gateway: str
    status: str
    amount: int
    currency: str
    crypto_amount: int | None
    crypto_currency: str | None
    gateway_data: dict[str, Any] | None
    pay_address: str | None
    checkout_url: str | None
    confirms_received: int | None
    confirms_needed: int | None
    expires_at: datetime | None
    status_message: str | None
    needs_review: bool
    late: bool
    refunded_amount: int | None
    created_at: datetime
    completed_at: datetime | None
    last_checked_at: datetime | None
    order: OrderFacts


_PAYMENT_FIELDS = [f.name for f in fields(PaymentFacts) if f.name != "order"]
_ORDER_FIELDS = [f.name for f in fields(OrderFacts) if f.name != "product_name"]

#: The status views' one SELECT, built once: composing a select costs more than running it
#: (docs/benchmarks.md, "Web"). bench/web.py runs it in the bare twin that reads a row too.
BY_REF = (
    select(
        *(Payment.__table__.c[name] for name in _PAYMENT_FIELDS),
        *(Order.__table__.c[name].label(f"order_{name}") for name in _ORDER_FIELDS),
        Product.__table__.c.name.label("product_name"),
    )
    .join_from(Payment.__table__, Order.__table__)
    .join(Product.__table__)
    .where(Payment.__table__.c.ref == bindparam("ref"))
)


def payment_facts(ref: str) -> PaymentFacts | None:
    """The payment with this ref, its order and its plan's name; None when there is none."""
    row = read_one(BY_REF, {"ref": ref})
    if row is None:
        return None
    values = row._mapping
    order = OrderFacts(
        product_name=values["product_name"],
        **{name: values[f"order_{name}"] for name in _ORDER_FIELDS},
    )
    return PaymentFacts(order=order, **{name: values[name] for name in _PAYMENT_FIELDS})
