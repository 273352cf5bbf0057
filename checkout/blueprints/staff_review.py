"""The review queue that empties, and staff notes on any payment.

`/staff/review` lists the flagged payments, oldest first (the longest waiting are worked first),
each with its reason in words and what to do about it. "Resolve" needs a note and clears the
flag (checkout.payments.review); support and admins may both resolve and write notes. Every
resolve and note is written to the audit log after its own commit.
"""

from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from ..extensions import db, limiter
from ..models import Payment
from ..payments import review
from ..payments.states import WORDS
from .staff import _payment_or_404, bp
from .staff_audit import record

log = logging.getLogger(__name__)

QUEUE_LIMIT = 100


@bp.context_processor
def _review_helpers() -> dict[str, object]:
    """The flag's words for the payment page's review box (the queue passes them itself)."""
    return {"review_words": review.staff_words, "note_chars": review.NOTE_CHARS}


@bp.get("/review")
def review_queue() -> str:
    flagged = Payment.needs_review.is_(True)
    payments = list(
        db.session.scalars(
            select(Payment)
            .where(flagged)
            .options(selectinload(Payment.order))  # the shopper's e-mail on each row
            .order_by(Payment.created_at.asc(), Payment.id.asc())
            .limit(QUEUE_LIMIT)
        )
    )
    total = db.session.scalar(select(func.count()).select_from(Payment).where(flagged)) or 0
    return render_template(
        "staff/review.html",
        rows=[(p, *review.staff_words(p)) for p in payments],
        total=total,
        words=WORDS,
    )


@bp.post("/payments/<ref>/resolve")
@limiter.limit("60/minute")
def resolve(ref: str) -> Response:
    found = _payment_or_404(ref)
    back = _back(ref)
    try:
        review.resolve(
            found,
            by=current_user.email,
            note=request.form.get("note", ""),
            seen_reason=request.form.get("reason", ""),
        )
    except review.ReviewRefused as exc:
        db.session.rollback()
        flash(str(exc), "alert")
        return redirect(back, 303)
    note = request.form.get("note", "").strip()[: review.NOTE_CHARS]
    record("resolve", ref, reason=found.review_reason, note=note)
    flash(f"Payment {ref}: review resolved.", "notice")
    return redirect(back, 303)


@bp.post("/payments/<ref>/notes")
@limiter.limit("60/minute")
def add_note(ref: str) -> Response:
    found = _payment_or_404(ref)
    text = request.form.get("note", "")
    try:
        review.note(found, by=current_user.email, text=text)
    except review.ReviewRefused as exc:
        flash(str(exc), "alert")
        return redirect(url_for("staff.payment", ref=ref), 303)
    record("note", ref, note=text.strip()[: review.NOTE_CHARS])
    flash("Note added to the timeline.", "notice")
    return redirect(url_for("staff.payment", ref=ref), 303)


def _back(ref: str) -> str:
    """Back to the queue when the form was the queue's, else to the payment page."""
    if request.form.get("back") == "review":
        return url_for("staff.review_queue")
    return url_for("staff.payment", ref=ref)
