"""The outbox's vocabulary: which kinds of work follow a payment, and how a handler reports.

A handler does one job for one order and must be idempotent by the order ref: it may run again
after a crash or a lost answer, and must never buy a second eSIM or lose a receipt. It returns
the follow-up jobs (written in the same transaction that marks it done), raises `JobRetry` for
trouble that time may fix, and `JobRefused` for a refusal a person must resolve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from ..models import Order, OutboxJob


class JobKind(StrEnum):
    ISSUE_ESIM = "issue_esim"  # buy the eSIM profile from the provider
    SEND_RECEIPT = "send_receipt"  # e-mail the receipt with the activation QR code
    SEND_REFUND_NOTICE = "send_refund_notice"  # e-mail that money was refunded


class JobRetry(Exception):
    """Transient: the provider or the mail server is down or slow. Try again later."""


class JobRefused(Exception):
    """Permanent: the provider refused (out of stock). Dead at once; a person must act."""


Handler = Callable[[OutboxJob], Sequence[OutboxJob]]
HANDLERS: dict[str, Handler] = {}


def handles(kind: JobKind) -> Callable[[Handler], Handler]:
    """Register the handler of one kind of job."""

    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register


def new_job(
    kind: JobKind, order: Order, detail: str = "", payload: Mapping[str, Any] | None = None
) -> OutboxJob:
    """A job row, keyed so that writing the same work twice is harmless."""
    key = f"{kind}:{order.ref}" + (f":{detail}" if detail else "")
    return OutboxJob(key=key, kind=kind, order_id=order.id, payload=dict(payload or {}))
