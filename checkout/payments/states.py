"""Payment statuses and the transitions between them.

A final status never goes back to PENDING. Money that arrives after a payment expired, failed or
was cancelled may still complete it (crypto does this), and the funnel flags such a payment as
late for staff.
"""

from __future__ import annotations

from ..states import PaymentStatus, ReviewKind

FINAL = frozenset(
    {
        PaymentStatus.COMPLETED,
        PaymentStatus.FAILED,
        PaymentStatus.EXPIRED,
        PaymentStatus.CANCELLED,
        PaymentStatus.REFUNDED,
    }
)

# Final states from which late money may still complete the payment.
LATE_COMPLETABLE = frozenset({PaymentStatus.FAILED, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED})

_ALLOWED: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.CREATED: frozenset(
        {
            PaymentStatus.PENDING,
            PaymentStatus.COMPLETED,
            PaymentStatus.FAILED,
            PaymentStatus.EXPIRED,
            PaymentStatus.CANCELLED,
        }
    ),
    PaymentStatus.PENDING: frozenset(
        {
            PaymentStatus.COMPLETED,
            PaymentStatus.FAILED,
            PaymentStatus.EXPIRED,
            PaymentStatus.CANCELLED,
        }
    ),
    PaymentStatus.FAILED: frozenset({PaymentStatus.COMPLETED}),
    PaymentStatus.EXPIRED: frozenset({PaymentStatus.COMPLETED}),
    PaymentStatus.CANCELLED: frozenset({PaymentStatus.COMPLETED}),
    PaymentStatus.COMPLETED: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.REFUNDED: frozenset(),
}

WORDS = {
    PaymentStatus.CREATED: "Opening checkout",
    PaymentStatus.PENDING: "Waiting for payment",
    PaymentStatus.COMPLETED: "Paid",
    PaymentStatus.FAILED: "Failed",
    PaymentStatus.EXPIRED: "Expired",
    PaymentStatus.CANCELLED: "Cancelled",
    PaymentStatus.REFUNDED: "Refunded",
}


#: What the shopper reads for each kind of review; staff read the review reason.
REVIEW_WORDS: dict[ReviewKind, str] = {
    ReviewKind.LATE: (
        "Your payment arrived after the deadline and was accepted. Our staff check every late "
        "payment and will e-mail you if anything else is needed."
    ),
    ReviewKind.UNDERPAID: (
        "Less than the full amount arrived. Our staff will contact you by e-mail to settle the "
        "rest or refund what arrived."
    ),
    ReviewKind.OVERPAID: (
        "More than the amount due arrived. Our staff will refund the difference and contact you "
        "by e-mail."
    ),
    ReviewKind.AMOUNT_MISMATCH: (
        "We received a different amount than this order costs. Our staff will look at it and "
        "contact you by e-mail."
    ),
    ReviewKind.PAID_TWICE: (
        "This order was already paid by another payment. Our staff will refund this one and "
        "contact you by e-mail."
    ),
    ReviewKind.AUTHORISED_NOT_CAPTURED: (
        "The card was authorised but not captured: the money is held on your card, not taken. "
        "Our staff will release it or contact you by e-mail."
    ),
    ReviewKind.REFUNDED_AT_GATEWAY: (
        "This payment was refunded at the payment provider. Our staff will contact you by e-mail "
        "if anything else is needed."
    ),
    ReviewKind.DISPUTED: (
        "This payment is disputed with the card issuer. Our staff will contact you by e-mail."
    ),
    ReviewKind.OTHER: "Our staff need to look at this payment and will contact you by e-mail.",
}


def review_words(kind: str | None) -> str:
    """The shopper's words for a stored review kind; an unknown or missing kind reads as OTHER."""
    try:
        return REVIEW_WORDS[ReviewKind(kind)]
    except ValueError:
        return REVIEW_WORDS[ReviewKind.OTHER]


def can_transition(old: PaymentStatus, new: PaymentStatus) -> bool:
    return new in _ALLOWED[old]


def is_final(status: PaymentStatus) -> bool:
    return status in FINAL
