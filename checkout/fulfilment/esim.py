"""The issue_esim job: buy the order's eSIM from the provider and keep its activation code.

Run by the outbox worker outside any transaction; what it writes to the order is committed with
the job's "done" and the send_receipt job it returns, in one transaction. It is idempotent by
order ref twice over: the provider answers a repeated reference with the eSIM it sold the first
time, and the order's code and ICCID are written only while still empty, so a job that runs
again after a crash or a lost answer never buys a second eSIM nor replaces the first.

What the provider's failures become (provider.py splits them as the gateways do):

- unavailable (timeout, 5xx, 429, junk): JobRetry, tried again with back-off;
- our settings refused (bad key, no URL): JobRetry too, with a message saying what to fix, so
  the job dead-letters after OUTBOX_MAX_ATTEMPTS if nobody does, and succeeds once someone does;
- the order refused (out of stock): the order's fulfilment_problem is written and committed at
  once (the worker rolls the handler's writes back on failure) and JobRefused makes the job dead:
  staff retry it once the plan is back, or refund.
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from ..extensions import db
from ..gateways.errors import GatewayConfigError, GatewayRejected, GatewayUnavailable
from ..models import Order, OrderStatus, OutboxJob, Payment
from ..states import PaymentStatus
from .jobs import JobKind, JobRefused, JobRetry, handles, new_job
from .provider import get_provider

log = logging.getLogger(__name__)


@handles(JobKind.ISSUE_ESIM)
def issue_esim(job: OutboxJob) -> list[OutboxJob]:
    """Issue the order's eSIM once; return the receipt job that follows it."""
    order = db.session.get(Order, job.order_id)
    if order is None or order.status != OrderStatus.PAID:
        raise JobRefused(f"order {job.order_id} is not paid: no eSIM is bought for it")
    if not order.fulfilment_code and _refunded(order):
        raise JobRefused(f"order {order.ref} was refunded before its eSIM was issued: none bought")
    receipt = [new_job(JobKind.SEND_RECEIPT, order)]
    if order.fulfilment_code:
        log.info("order %s: eSIM already issued, ICCID %s", order.ref, order.esim_iccid)
        return receipt
    try:
        esim = get_provider().order(order.product.slug, order.ref)
    except GatewayUnavailable as exc:
        raise JobRetry(f"eSIM provider unavailable: {exc}") from exc
    except GatewayConfigError as exc:
        log.error("order %s: eSIM provider settings refused: %s", order.ref, exc)
        raise JobRetry(
            f"eSIM provider settings need fixing (ESIM_PROVIDER_URL, ESIM_PROVIDER_API_KEY): {exc}"
        ) from exc
    except GatewayRejected as exc:
        problem = f"The eSIM provider refused the order for plan {order.product.slug}: {exc}"
        _flag(order, problem)
        raise JobRefused(problem) from exc
    written = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.fulfilment_code.is_(None))
        .values(fulfilment_code=esim.lpa, esim_iccid=esim.iccid, fulfilment_problem=None)
    )
    if written.rowcount == 1:
        log.info("order %s: eSIM issued, ICCID %s", order.ref, esim.iccid)
    else:  # another run got there first; the provider gave it this same eSIM
        log.info("order %s: eSIM was already recorded by another run", order.ref)
    return receipt


def _refunded(order: Order) -> bool:
    """The paying payment was refunded in full (staff refunded while the job waited)."""
    payer = db.session.get(Payment, order.paid_by_payment_id) if order.paid_by_payment_id else None
    return payer is not None and payer.status == PaymentStatus.REFUNDED


def _flag(order: Order, problem: str) -> None:
    """Say why a person must act, committed now so the failed job's rollback keeps it."""
    db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.fulfilment_code.is_(None))
        .values(fulfilment_problem=problem)
    )
    db.session.commit()
    log.warning("order %s: %s", order.ref, problem)
