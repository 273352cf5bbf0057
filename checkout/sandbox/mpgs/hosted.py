"""The Hosted Checkout page (B.6, B.7): checkout.js, the card form, 3-D Secure, the way back.

The payer reaches `/checkout/pay/<session>` (or `/checkout/entry/<session>`) through the stub
checkout.js, pays or cancels once, and is sent to `returnUrl` with `resultIndicator` and
`sessionVersion`: the success indicator when approved, any other value when not.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, render_template, request
from werkzeug.wrappers import Response

from ..common import luhn_ok
from . import payments
from .answers import money
from .cards import CARD_LABELS, TEST_CARDS
from .store import CheckoutSessionState, MpgsStore, new_hex

Page = Response | tuple[str, int] | str


def blueprint(store: MpgsStore) -> Blueprint:
    bp = Blueprint("sandbox_mpgs_page", __name__)

    @bp.get("/static/checkout/checkout.min.js")
    @bp.get("/checkout/version/<int:version>/checkout.js")
    def checkout_js(version: int | None = None) -> Response:
        text = render_template("mpgs/checkout.js", base=request.host_url.rstrip("/"))
        return Response(text, content_type="application/javascript; charset=utf-8")

    @bp.route("/checkout/pay/<session_id>", methods=["GET", "POST"])
    @bp.route("/checkout/entry/<session_id>", methods=["GET", "POST"])
    def hosted_page(session_id: str) -> Page:
        session = session_or_404(store, session_id)
        with store.lock:  # one submission at a time: a double click pays once
            return _hosted_page(store, session)

    @bp.post("/checkout/challenge/<session_id>")
    def challenge(session_id: str) -> Response | tuple[str, int]:
        session = session_or_404(store, session_id)
        with store.lock:
            return _challenge(store, session)

    return bp


def session_or_404(store: MpgsStore, session_id: str) -> CheckoutSessionState:
    with store.lock:
        session = store.sessions.get(session_id)
    if session is None:
        abort(404)
    return session


def _hosted_page(store: MpgsStore, session: CheckoutSessionState) -> Page:
    if session.done:
        return _message(session, "This payment session has already been used", 410)
    if store.expired(session):
        return _message(session, "This payment session has expired", 410, "timeoutUrl")
    if request.method == "GET":
        return _pay_page(session)
    if request.form.get("action") == "cancel":
        session.done = True
        url = _leave_url(session)
        if url:
            return redirect(url, 302)
        return _message(session, "Payment cancelled", 200)
    number = re.sub(r"[\s-]", "", request.form.get("cardNumber", ""))
    if not luhn_ok(number):
        return _pay_page(session, error="Enter a valid card number.", status=400)
    outcome, code = TEST_CARDS.get(number, ("decline", "DECLINED"))
    if outcome == "3ds":
        payments.start_challenge(store, session, number)
        return render_template("mpgs/challenge.html", session=session)
    return _finish(session, payments.pay(store, session, number, code))


def _challenge(store: MpgsStore, session: CheckoutSessionState) -> Response | tuple[str, int]:
    if session.done or session.challenge_card is None:
        return _message(session, "There is no authentication waiting", 409)
    if store.expired(session):
        return _message(session, "This payment session has expired", 410, "timeoutUrl")
    passed = request.form.get("outcome") == "approve"
    return _finish(session, payments.finish_challenge(store, session, passed))


def _finish(session: CheckoutSessionState, approved: bool) -> Response:
    """Close the session and send the payer to returnUrl (B.7)."""
    session.done = True
    session.version = new_hex(10)
    indicator = session.success_indicator if approved else new_hex(16)
    while not approved and indicator == session.success_indicator:
        indicator = new_hex(16)
    return_url = session.interaction.get("returnUrl")
    if not return_url:
        return Response(
            render_template("mpgs/message.html", title="Payment finished", session=session),
            200,
        )
    query = urlencode({"resultIndicator": indicator, "sessionVersion": session.version})
    return redirect(return_url + ("&" if "?" in return_url else "?") + query, 302)


def _leave_url(session: CheckoutSessionState, key: str = "cancelUrl") -> str | None:
    """Where a payer who leaves goes: `key`'s URL, else cancelUrl."""
    return session.interaction.get(key) or session.interaction.get("cancelUrl")


def _pay_page(
    session: CheckoutSessionState, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    return render_template(
        "mpgs/pay.html",
        session=session,
        amount=money(session.order["amount"], session.order["currency"]),
        cards=CARD_LABELS,
        error=error,
    ), status


def _message(
    session: CheckoutSessionState, title: str, status: int, key: str = "cancelUrl"
) -> tuple[str, int]:
    return render_template(
        "mpgs/message.html", title=title, session=session, back=_leave_url(session, key)
    ), status
