"""Payment statuses and the transitions between them.

A final status never goes back to PENDING. Money that arrives after a payment expired, failed or
was cancelled may still complete it (crypto does this), and the funnel flags such a payment as
late for staff.
"""

from __future__ import annotations

from enum import StrEnum


class PaymentStatus(StrEnum):
    CREATED = "CREATED"  # our row exists; the gateway has not confirmed a checkout yet
    PENDING = "PENDING"  # the shopper has a hosted page or an address; no money yet
    COMPLETED = "COMPLETED"  # the gateway holds our full amount in our currency
    FAILED = "FAILED"  # the gateway refused the payment (decline, cancelled by gateway)
    EXPIRED = "EXPIRED"  # the deadline passed with no money
    CANCELLED = "CANCELLED"  # the checkout could never be opened, or was abandoned on purpose
    REFUNDED = "REFUNDED"  # fully refunded after completion


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


def can_transition(old: PaymentStatus, new: PaymentStatus) -> bool:
    return new in _ALLOWED[old]


def is_final(status: PaymentStatus) -> bool:
    return status in FINAL
