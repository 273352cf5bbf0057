"""The payment status page, its JSON twin, and the gateway's way back to us.

None of these URLs marks anything paid by itself: the return and the refresh both ask the gateway
and feed its answer to the funnel. A shopper's look-ups are coalesced (one gateway call per
REFRESH_COALESCE_SECONDS however many tabs poll) and rate-limited; staff always go to the gateway.
A poll within the window is a read: the row it loaded says no look-up is due, so it neither
claims nor commits (docs/benchmarks.md, "Web").
"""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import bindparam
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from ..db_reads import read_one
from ..extensions import claim_once, db, limiter, within_limit
from ..fulfilment import qr
from ..gateways.base import Presentation
from ..gateways.registry import get_gateway, plugin_for
from ..models import OrderStatus, Payment, PaymentEvent, utcnow
from ..money import Money, MoneyError
from ..observability import in_payment
from ..payments.service import Source, add_note, claim_check, refresh
from ..payments.states import WORDS, PaymentStatus, ReviewKind, is_final, review_words
from . import fulfilment_view
from .status_facts import PaymentFacts, payment_facts

log = logging.getLogger(__name__)
bp = Blueprint("status", __name__)

# Per address, for each of the shopper's look-up URLs (refresh, return, cancel, timeout). Held
# in the limiter's storage: shared by every worker when that is Redis (docs/operations.md).
_SHOPPER_LIMIT = "30/minute"
# Per address and payment, for the JSON poll: static/js/status.js polls every 3 s (20 a minute)
# in a visible tab, so one shopper may keep 15 tabs of a payment open before a 429, and shoppers
# behind one address (an office, a carrier's NAT) each poll their own payment on their own budget.
POLL_LIMIT = 300
POLL_WINDOW_SECONDS = 60
# Return notes kept per payment; replays past this are logged only.
RETURN_NOTES_KEPT = 10


@bp.get("/status/<ref>")
def show(ref: str) -> str:
    """The shopper's page for one payment. A plain read: it never calls the gateway itself.

    With JavaScript the page polls its JSON twin; without it a <noscript> meta refresh goes
    through `refresh_now`, which makes the same coalesced gateway look-up and comes back here.
    """
    payment = _facts_or_404(ref)
    view = status_view(payment)
    return render_template(
        "status/status.html",
        payment=payment,
        # attributes, not keys: Jinja's `view.x` tries getattr first, and on a dict each of the
        # page's ~80 look-ups failed with an exception before the key was tried
        view=SimpleNamespace(**view),
        qr_svg=_qr_svg(view["fulfilment_code"]),
        install_hint=qr.INSTALL_HINT,  # the receipt e-mail says the same
        option=_presentation(payment.gateway),
        how_to_pay=_how_to_pay(payment.gateway),
        launch_url=url_for("checkout.launch", ref=payment.ref)
        if (payment.gateway_data or {}).get("launch_script")
        else None,
        cancelled=request.args.get("cancelled") == "1",
        timed_out=request.args.get("timed_out") == "1",
    )


@bp.get("/status/<ref>.json")
def show_json(ref: str) -> Response:
    """The status page as data, for its own polling script. Never carries gateway secrets.

    Limited per address and payment with one counter (`within_limit`), not a Flask-Limiter
    moving window: this is the site's most frequent request.
    """
    if not within_limit(f"poll/{get_remote_address()}/{ref[:64]}", POLL_LIMIT, POLL_WINDOW_SECONDS):
        raise TooManyRequests(retry_after=POLL_WINDOW_SECONDS)
    facts = _facts_or_404(ref)
    if lookup_due(facts):
        _shopper_refresh(_payment_or_404(ref))
        facts = _facts_or_404(ref)
    return jsonify(status_view(facts))


@bp.get("/status/<ref>/refresh")
@limiter.limit(_SHOPPER_LIMIT, exempt_when=lambda: current_user.is_authenticated)
def refresh_now(ref: str) -> Response | str:
    """Support staff paste this URL; a logged-in staff member always reaches the gateway."""
    payment = _payment_or_404(ref)
    if current_user.is_authenticated:
        refresh(payment, Source.STAFF)
        return redirect(url_for("staff.payment", ref=ref), 303)
    _shopper_refresh(payment)
    return redirect(url_for("status.show", ref=ref), 303)


@bp.route("/status/<ref>/return", methods=["GET", "POST"])
@limiter.limit(_SHOPPER_LIMIT)
def gateway_return(ref: str) -> Response:
    """The shopper is back from the hosted page: note what the URL says, look the payment up.

    The returns of one payment are coalesced among themselves (one look-up per
    REFRESH_COALESCE_SECONDS, claimed in the limiter's storage so every worker sees the claim),
    not with the polls: the first return always asks, since the shopper may have paid a second
    after the last poll or the checkout's own answer. A note already on the timeline is not
    written again, so a reloaded or replayed return URL neither reaches the gateway each time
    nor grows the timeline.
    """
    payment = _payment_or_404(ref)
    note = get_gateway(payment.gateway).check_return(payment, request.values.to_dict())
    log.info("payment %s: shopper returned from %s: %s", ref, payment.gateway, note)
    _note_once(payment, note)
    window = current_app.config["REFRESH_COALESCE_SECONDS"]
    if claim_once(f"return-lookup/{payment.id}", window):
        refresh(payment, Source.RETURN)
    return redirect(url_for("status.show", ref=ref), 303)


@bp.route("/status/<ref>/cancel", methods=["GET", "POST"])
@limiter.limit(_SHOPPER_LIMIT)
def gateway_cancel(ref: str) -> Response:
    return _back_without_paying(ref, "shopper cancelled on the hosted page", "cancelled")


@bp.route("/status/<ref>/timeout", methods=["GET", "POST"])
@limiter.limit(_SHOPPER_LIMIT)
def gateway_timeout(ref: str) -> Response:
    """The hosted page's own clock ran out: say so, rather than that the shopper left."""
    return _back_without_paying(ref, "the hosted payment page timed out", "timed_out")


def _back_without_paying(ref: str, note: str, flag: str) -> Response:
    """Note why the shopper is back and ask the gateway (coalesced, like the status page's
    polling): the status stays the gateway's to say, and it may already know the session ended."""
    payment = _payment_or_404(ref)
    log.info("payment %s: back from %s: %s", ref, payment.gateway, note)
    _note_once(payment, note)
    _shopper_refresh(payment, Source.RETURN)
    return redirect(url_for("status.show", ref=ref, **{flag: 1}), 303)


def _note_once(payment: Payment, message: str) -> None:
    """Add a return note unless the timeline already has it, and at most RETURN_NOTES_KEPT.

    The return URLs are the shopper's (or anybody's) to replay; the timeline keeps each distinct
    fact once and stops listening after a few, so replays cannot fill it.
    """
    message = message[:500]
    kept = db.session.scalars(
        db.select(PaymentEvent.message).where(
            PaymentEvent.payment_id == payment.id,
            PaymentEvent.source == Source.RETURN.value,
            PaymentEvent.kind == "note",
        )
    ).all()
    if message in kept or len(kept) >= RETURN_NOTES_KEPT:
        return
    add_note(payment, Source.RETURN, message)


def status_view(payment: PaymentFacts) -> dict[str, Any]:
    """Everything the status page shows, as plain data (the page and its JSON twin agree).

    Built field by field on purpose: gateway_secret, gateway_data and last_raw may hold proof of
    payment (MPGS successIndicator) or personal data, and none of them is copied here.
    """
    status = PaymentStatus(payment.status)
    order = payment.order
    shown = _presentation(payment.gateway)
    seconds_left = None
    if payment.expires_at and not is_final(status):
        seconds_left = max(0, int((payment.expires_at - utcnow()).total_seconds()))
    crypto = Money.known(payment.crypto_amount, payment.crypto_currency)
    coins = coins_received(payment)
    paid_by_other = (
        order.status == OrderStatus.PAID
        and order.paid_by_payment_id is not None
        and order.paid_by_payment_id != payment.id
    )
    # The outbox issues the code after the commit that paid the order: until it is there the
    # page keeps polling (within fulfilment_view's bounds) and says why the shopper waits.
    fulfilment = (
        fulfilment_view.for_shopper(payment)
        if status == PaymentStatus.COMPLETED and order.paid_by_payment_id == payment.id
        else None
    )
    preparing = fulfilment is not None and fulfilment.polling
    delivered = status == PaymentStatus.COMPLETED and bool(order.fulfilment_code)
    late_money = late_money_possible(payment)
    refunded = Money(payment.refunded_amount or 0, payment.currency)
    words = WORDS[status]
    if status == PaymentStatus.COMPLETED and refunded.amount:
        words = f"{words}, {refunded} refunded"
    review = None
    if payment.needs_review:
        kind = (
            ReviewKind.PAID_TWICE
            if paid_by_other
            else (payment.gateway_data or {}).get("review_kind")
        )
        review = review_words(kind)
    return {
        "ref": payment.ref,
        "status": status.value,
        "status_words": words,
        "final": is_final(status) and not preparing,
        # still worth polling, slowly: expired, but the gateway may still deliver money
        "late_money_possible": late_money,
        "poll_seconds": _poll_seconds(fulfilment, late_money),
        "refunded": refunded.decimal_str if refunded.amount else None,
        "review_words": review,
        "preparing_fulfilment": preparing,
        # delivered / preparing / delayed / failed (fulfilment_view.ShopperState), or None
        "fulfilment": fulfilment.state if fulfilment else None,
        "fulfilment_refused": bool(fulfilment and fulfilment.refused),
        "message": payment.status_message,
        "gateway": payment.gateway,
        "gateway_label": shown.label if shown else payment.gateway,
        "amount": Money(payment.amount, payment.currency).decimal_str,
        "currency": payment.currency,
        "product": order.product_name,
        "order_ref": order.ref,
        "order_paid": order.status == OrderStatus.PAID,
        "paid_by_ref": _payment_ref(order.paid_by_payment_id) if paid_by_other else None,
        "fulfilment_code": order.fulfilment_code if delivered else None,
        "esim_iccid": order.esim_iccid if delivered else None,
        "expires_at": payment.expires_at.isoformat() if payment.expires_at else None,
        "seconds_left": seconds_left,
        "checkout_url": payment.checkout_url if status == PaymentStatus.PENDING else None,
        "pay_address": payment.pay_address if status == PaymentStatus.PENDING else None,
        "crypto_amount": crypto.decimal_str if crypto else None,
        "crypto_currency": crypto.currency if crypto else None,
        "confirms_received": payment.confirms_received,
        # what the gateway says arrived, and what is still missing (crypto)
        "coins_received": coins.decimal_str if coins else None,
        "coins_missing": _missing(crypto, coins),
        "coins_seen": bool(crypto and coins and coins.amount >= crypto.amount),
        "confirms_needed": payment.confirms_needed,
        "late": payment.late,
        "needs_review": payment.needs_review,
    }


def _poll_seconds(fulfilment: fulfilment_view.Fulfilment | None, late_money: bool) -> int | None:
    """How long the page waits between polls, when the server has a say (else the script's)."""
    if fulfilment is not None and fulfilment.polling:
        return fulfilment.poll_seconds
    return current_app.config["STATUS_LATE_POLL_SECONDS"] if late_money else None


def _qr_svg(code: str | None) -> Markup | None:
    """The activation QR code as inline SVG. segno draws the text as modules (paths), never as
    markup, and the title is our constant, so nothing the provider sent is interpreted as HTML."""
    return Markup(qr.svg(code)) if code else None  # noqa: S704 - segno's own SVG, see above


def _how_to_pay(gateway: str) -> str | None:
    """The gateway's own "how to pay" block for the status page (the crypto address), if any."""
    shown = _presentation(gateway)
    return shown.status_partial if shown else None


def _presentation(gateway: str) -> Presentation | None:
    """How the gateway is shown (label, logo), not whether it is offered today: a payment's page
    names the gateway it was made with, switched off or not, without checking its settings."""
    plugin = plugin_for(gateway)
    return plugin.presentation if plugin else None


def coins_received(payment: Payment | PaymentFacts) -> Money | None:
    """The coins the gateway last said arrived (any amount above nothing), or None."""
    text = (payment.gateway_data or {}).get("coin_received")
    if not text or not payment.crypto_currency:
        return None
    try:
        received = Money.parse(str(text), payment.crypto_currency)
    except MoneyError:
        log.warning("payment %s: unreadable coin_received %r", payment.ref, text)
        return None
    return received if received.amount > 0 else None


def late_money_possible(payment: Payment | PaymentFacts) -> bool:
    """Expired, but money may still arrive and the sweep still looks: the page keeps polling.

    The same rule as the sweep's (`sweep_scope.is_due`): a gateway whose money can always come
    late (crypto), or an expiry that recorded money may still come, within the sweep window.
    """
    if payment.status != PaymentStatus.EXPIRED:
        return False
    plugin = plugin_for(payment.gateway)
    may_come = bool(plugin and plugin.gateway.late_money) or bool(
        (payment.gateway_data or {}).get("late_money")
    )
    window = timedelta(hours=current_app.config["SWEEP_WINDOW_HOURS"])
    return may_come and payment.created_at >= utcnow() - window


def _missing(due: Money | None, received: Money | None) -> str | None:
    if due is None or received is None or received.amount >= due.amount:
        return None
    return Money(due.amount - received.amount, due.currency).decimal_str


def _payment_ref(payment_id: int | None) -> str | None:
    if payment_id is None:
        return None
    row = read_one(_REF_BY_ID, {"id": payment_id})
    return row.ref if row is not None else None


def _shopper_refresh(payment: Payment, source: Source = Source.POLL) -> None:
    """One gateway look-up per coalesce window for this payment, whoever asks and how often.

    Only a poll for which `lookup_due` says yes claims the look-up (a conditional UPDATE and a
    commit, so simultaneous tabs make one call); every other poll stays a read.
    """
    if lookup_due(payment) and claim_check(payment, _coalesce_window()):
        refresh(payment, source)


def lookup_due(payment: Payment | PaymentFacts) -> bool:
    """Whether a shopper's poll should ask the gateway now, decided from the row as loaded.

    Not for a payment the gateway has not opened yet, nor for a final one no money can still
    reach; otherwise when nobody (poll, return, notification or sweep) looked within the
    coalesce window. The claim that follows re-checks the window in the database.
    """
    if payment.status == PaymentStatus.CREATED:
        return False
    if is_final(PaymentStatus(payment.status)) and not late_money_possible(payment):
        return False
    checked = payment.last_checked_at
    return checked is None or checked <= utcnow() - _coalesce_window()


def _coalesce_window() -> timedelta:
    return timedelta(seconds=current_app.config["REFRESH_COALESCE_SECONDS"])


# Built once: composing a select costs more than running it (docs/benchmarks.md, "Web").
_BY_REF = db.select(Payment).where(Payment.ref == bindparam("ref"))
_REF_BY_ID = db.select(Payment.ref).where(Payment.id == bindparam("id"))


def _payment_or_404(ref: str) -> Payment:
    """The payment as the funnel needs it (in the session, to act on), or 404."""
    payment = db.session.scalar(_BY_REF, {"ref": ref})
    if payment is None:
        abort(404)
    in_payment(payment.ref, payment.gateway)
    return payment


def _facts_or_404(ref: str) -> PaymentFacts:
    """The payment as the shopper's views show it (status_facts: one read, no session), or 404."""
    facts = payment_facts(ref)
    if facts is None:
        abort(404)
    in_payment(facts.ref, facts.gateway)
    return facts


def register(app: Flask) -> None:
    app.register_blueprint(bp)
