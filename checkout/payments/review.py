"""Staff's side of a review flag: resolving it with a note, and notes on any payment.

Resolving clears `needs_review` and keeps `review_reason`: the funnel flags a payment again only
for a reason that differs from the stored one (decision._new_review), so the same fact seen by
every later sweep (an amount mismatch, a refund at the gateway) does not refill the queue, while
a new reason from the gateway flags it again. The flag, the note, who and when stay on the
timeline as a "resolved" entry. Staff resolve the reason they read: a reason that changed since
their page was drawn is not cleared blindly.
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from ..extensions import db
from ..models import Payment
from ..states import ReviewKind
from .events import fact_event
from .service import Source

log = logging.getLogger(__name__)

NOTE_CHARS = 500  # the timeline message is cut there (add_note does the same)

#: What staff read for each kind of flag: what happened and what to do about it.
STAFF_REVIEW_WORDS: dict[ReviewKind, tuple[str, str]] = {
    ReviewKind.LATE: (
        "Late payment: the money arrived after the payment had ended.",
        "Refund it, or keep it and make sure the order is delivered.",
    ),
    ReviewKind.UNDERPAID: (
        "Underpaid: less than the amount due arrived.",
        "Ask the shopper to pay the rest, or refund what arrived.",
    ),
    ReviewKind.OVERPAID: (
        "Overpaid: more than the amount due arrived.",
        "Refund the difference.",
    ),
    ReviewKind.AMOUNT_MISMATCH: (
        "Amount mismatch: another currency or invoice arrived, or no amount was given.",
        "Check the amount at the gateway, then refund or settle it with the shopper.",
    ),
    ReviewKind.PAID_TWICE: (
        "Paid twice: another payment already paid this order.",
        "Refund one of the two payments.",
    ),
    ReviewKind.AUTHORISED_NOT_CAPTURED: (
        "Authorised, not captured: the card holds the money but nobody collected it.",
        "Capture or void it at the gateway.",
    ),
    ReviewKind.REFUNDED_AT_GATEWAY: (
        "Refunded at the gateway, not from this console.",
        "Check the gateway dashboard.",
    ),
    ReviewKind.DISPUTED: (
        "Disputed: a dispute or chargeback at the card issuer.",
        "Check the gateway dashboard and answer the dispute there.",
    ),
    ReviewKind.OTHER: (
        "Needs a look.",
        "Read the reason and the timeline, then act at the gateway if needed.",
    ),
}


class ReviewRefused(Exception):
    """Nothing was resolved; the message is for the staff member, in words."""


def review_kind(payment: Payment) -> ReviewKind:
    """The stored kind of the payment's flag; a missing or unknown one is OTHER."""
    try:
        return ReviewKind((payment.gateway_data or {}).get("review_kind"))
    except ValueError:
        return ReviewKind.OTHER


def staff_words(payment: Payment) -> tuple[str, str]:
    """What the flag means and what to do about it, for the review queue and the payment page."""
    return STAFF_REVIEW_WORDS[review_kind(payment)]


def resolve(payment: Payment, *, by: str, note: str, seen_reason: str) -> None:
    """Clear the flag staff read as `seen_reason`, with their `note` on the timeline.

    A compare-and-set on the row version: a funnel write between the read and this one makes
    the resolve look again rather than clear a flag it did not read.
    """
    note = note.strip()
    if not note:
        raise ReviewRefused("Write a note saying what was done before resolving.")
    db.session.refresh(payment)
    if not payment.needs_review:
        raise ReviewRefused("This payment is not flagged for review (any more).")
    if payment.review_reason != seen_reason:
        raise ReviewRefused(
            f"The reason changed since the page was drawn: {payment.review_reason}. "
            "Read it and resolve again."
        )
    reason, version = payment.review_reason, payment.version
    written = db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.version == version, Payment.needs_review.is_(True))
        .values(needs_review=False, version=version + 1)
    )
    if written.rowcount != 1:
        db.session.rollback()
        raise ReviewRefused("The payment changed just now; reload it and resolve again.")
    message = f"review resolved by {by}: {note}"[:NOTE_CHARS]
    details = {"by": by, "reason": reason, "kind": review_kind(payment).value}
    db.session.add(fact_event(payment, Source.STAFF, "resolved", message, details=details))
    db.session.commit()
    log.info("payment %s: review resolved by %s", payment.ref, by)


def note(payment: Payment, *, by: str, text: str) -> None:
    """A staff note on the payment's timeline: who in its details, the text as its message."""
    text = text.strip()
    if not text:
        raise ReviewRefused("The note is empty.")
    event = fact_event(payment, Source.STAFF, "note", text[:NOTE_CHARS], details={"by": by})
    db.session.add(event)
    db.session.commit()
    log.info("payment %s: note by %s", payment.ref, by)
