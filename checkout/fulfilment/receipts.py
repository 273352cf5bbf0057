"""The e-mails that follow a payment: the receipt with the eSIM's QR code, and refund notices.

Both are outbox jobs. A handler here only reads the order and sends mail: it never calls the eSIM
provider, so a receipt that fails and is retried can never buy a second eSIM. Each mail's
Message-ID is derived from the job (the order ref, and the refund reference for a refund), so a
resend after a lost answer is recognisably the same mail.

The receipt is multipart/alternative: a plain-text part, and an HTML part in the shop's look
that is multipart/related with the QR code as an inline PNG (mail clients do not draw SVG).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from email.message import EmailMessage

from flask import current_app, render_template

from ..extensions import db
from ..models import Order, OutboxJob, Payment
from ..money import Money
from . import mail, qr
from .jobs import JobKind, JobRetry, handles, new_job

log = logging.getLogger(__name__)


@handles(JobKind.SEND_RECEIPT)
def send_receipt(job: OutboxJob) -> Sequence[OutboxJob]:
    """E-mail the receipt with the activation code and its QR code to the order's address."""
    order = db.session.get(Order, job.order_id, populate_existing=True)
    if not order.fulfilment_code:
        raise JobRetry(f"order {order.ref} has no activation code yet: nothing to send")
    mail.send(receipt_message(order))
    log.info("order %s: receipt sent", order.ref)
    return []


@handles(JobKind.SEND_REFUND_NOTICE)
def send_refund_notice(job: OutboxJob) -> Sequence[OutboxJob]:
    """E-mail that money was refunded: the amount and the payment, from the job's payload."""
    order = db.session.get(Order, job.order_id, populate_existing=True)
    payload = job.payload or {}
    amount = Money(int(payload["amount"]), payload["currency"])
    context = {"order": order, "amount": amount, "payment_ref": payload["payment_ref"]}
    message = mail.new_message(
        order.email, f"Refund of {amount}: order {order.ref}", _local_id(job.key)
    )
    message.set_content(render_template("mail/refund.txt", **context))
    message.add_alternative(render_template("mail/refund.html", **context), subtype="html")
    mail.send(message)
    log.info("order %s: refund notice for %s sent", order.ref, amount)
    return []


def refund_notice(payment: Payment, amount: Money, refund_reference: str) -> OutboxJob:
    """The job that tells the shopper about one refund (one notice per refund reference)."""
    return new_job(
        JobKind.SEND_REFUND_NOTICE,
        payment.order,
        detail=refund_reference[:64],  # the job key has room for a gateway's refund id
        payload={"amount": amount.amount, "currency": amount.currency, "payment_ref": payment.ref},
    )


def receipt_message(order: Order) -> EmailMessage:
    """The receipt of a fulfilled order, ready to send."""
    code = order.fulfilment_code or ""
    cid = f"qr.{order.ref}@{mail.sender_domain()}"
    payment_ref = _payment_ref(order)
    context = {
        "order": order,
        "payment_ref": payment_ref,
        "qr_cid": cid,
        "qr_size": qr.png_size(code),
        "install_hint": qr.INSTALL_HINT,
        "status_url": _status_url(payment_ref),
    }
    message = mail.new_message(
        order.email,
        f"Your eSIM is ready: {order.product.name}",
        f"receipt.{order.ref}",
    )
    message.set_content(render_template("mail/receipt.txt", **context))
    message.add_alternative(render_template("mail/receipt.html", **context), subtype="html")
    html = message.get_payload()[1]
    html.add_related(
        qr.png(code),
        maintype="image",
        subtype="png",
        cid=f"<{cid}>",
        disposition="inline",
        filename="esim-qr.png",
    )
    return message


def _payment_ref(order: Order) -> str:
    payment = (
        db.session.get(Payment, order.paid_by_payment_id) if order.paid_by_payment_id else None
    )
    return payment.ref if payment is not None else ""


def _status_url(payment_ref: str) -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/status/{payment_ref}" if payment_ref else f"{base}/orders"


def _local_id(key: str) -> str:
    """A job key ("kind:ref:detail") as the left side of a Message-ID (no colons there)."""
    return re.sub(r"[^A-Za-z0-9_-]+", ".", key)
