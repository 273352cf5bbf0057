"""The words a gateway and the core share: a payment's status and why it needs staff.

A leaf module, so that gateways can name statuses without importing the payments package
(dependencies flow blueprints -> payments -> gateways -> money / states / models). The
transitions between statuses live in `payments.states`.
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


class ReviewKind(StrEnum):
    """Why a payment needs staff, as a fact the shopper's page can put in words.

    The review reason itself stays free text for staff (amounts, gateway words); the kind is
    what decides what the shopper reads, so no page ever matches on that text.
    """

    LATE = "late"  # money arrived after the payment had ended
    UNDERPAID = "underpaid"  # less than the amount due arrived
    OVERPAID = "overpaid"  # more than the amount due arrived
    AMOUNT_MISMATCH = "amount_mismatch"  # another currency or invoice, or no amount given
    PAID_TWICE = "paid_twice"  # the order was already paid by another payment
    AUTHORISED_NOT_CAPTURED = "authorised"  # the card holds the money, nobody collected it
    REFUNDED_AT_GATEWAY = "refunded"  # refunded or reversed at the gateway, not by us
    DISPUTED = "disputed"  # a dispute or chargeback at the card issuer
    OTHER = "other"  # anything else staff must look at
