"""The shopper's side: paymentWidgets.js, the card form's POST, 3-D Secure, the way back.

The script is served with CORS so a page may load it with Subresource Integrity, and its
`integrity` value is what `POST /v1/checkouts` answers when asked with `integrity=true`. A card
posted to `/v1/checkouts/<id>/payment` becomes a payment on the checkout (a checkout can be
used again after a decline, as the real one can within its 30 minutes), and the shopper is sent
to shopperResultUrl with `id` and `resourcePath`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, render_template, request
from werkzeug.wrappers import Response

from ..common import luhn_ok
from . import payments
from .cards import AUTHENTICATION_FAILED, DECLINED, TEST_CARDS, brand_of
from .store import CheckoutState, CopyAndPayStore

SCRIPT = (Path(__file__).parent / "paymentWidgets.js").read_bytes()
SCRIPT_INTEGRITY = "sha384-" + base64.b64encode(hashlib.sha384(SCRIPT).digest()).decode()

Page = Response | tuple[str, int]


def blueprint(store: CopyAndPayStore) -> Blueprint:
    bp = Blueprint("sandbox_copyandpay_widget", __name__, template_folder="templates")

    @bp.get("/v1/paymentWidgets.js")
    def payment_widgets() -> Response:
        response = Response(SCRIPT, content_type="application/javascript; charset=utf-8")
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    @bp.post("/v1/checkouts/<checkout_id>/payment")
    def pay(checkout_id: str) -> Page:
        with store.lock:  # one submission at a time: a double click pays once
            checkout = _usable(store, checkout_id)
            if isinstance(checkout, tuple):
                return checkout
            return _pay(store, checkout)

    @bp.post("/v1/checkouts/<checkout_id>/challenge")
    def challenge(checkout_id: str) -> Page:
        with store.lock:
            checkout = _usable(store, checkout_id)
            if isinstance(checkout, tuple):
                return checkout
            if checkout.challenge is None:
                return _message("There is no authentication waiting", 409)
            number, holder, brand = checkout.challenge
            checkout.challenge = None
            if request.form.get("outcome") == "approve":
                code, description = TEST_CARDS[number][1:]
            else:
                code, description = AUTHENTICATION_FAILED
            payments.record_attempt(store, checkout, number, holder, brand, code, description)
            return _back(checkout)

    return bp


def _usable(store: CopyAndPayStore, checkout_id: str) -> CheckoutState | tuple[str, int]:
    checkout = store.checkouts.get(checkout_id)
    if checkout is None:
        abort(404)
    if checkout.expired(store.now()):
        return _message("This checkout has expired", 410)
    return checkout


def _pay(store: CopyAndPayStore, checkout: CheckoutState) -> Page:
    number = re.sub(r"[\s-]", "", request.form.get("card.number", ""))
    if not luhn_ok(number):
        return _message("The card number is not valid. Go back and try again.", 400)
    if request.form.get("shopperResultUrl"):
        checkout.shopper_result_url = request.form["shopperResultUrl"]
    holder = request.form.get("card.holder", "")
    brand = brand_of(number, request.form.get("paymentBrand", ""))
    outcome, code, description = TEST_CARDS.get(number, ("pay", *DECLINED))
    if outcome == "3ds":
        checkout.challenge = (number, holder, brand)
        return render_template("copyandpay_sandbox/challenge.html", checkout=checkout), 200
    payments.record_attempt(store, checkout, number, holder, brand, code, description)
    return _back(checkout)


def _back(checkout: CheckoutState) -> Response:
    """Send the shopper to shopperResultUrl with the checkout id and its resourcePath."""
    if not checkout.shopper_result_url:
        return Response("Payment finished: no shopperResultUrl was given.", 200)
    query = urlencode({"id": checkout.id, "resourcePath": f"/v1/checkouts/{checkout.id}/payment"})
    url = checkout.shopper_result_url
    return redirect(url + ("&" if "?" in url else "?") + query, 302)


def _message(text: str, status: int) -> tuple[str, int]:
    return render_template("copyandpay_sandbox/message.html", text=text), status
