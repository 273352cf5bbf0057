"""The server-to-server API under /v1: prepare a checkout, read its payment, the report, refunds.

Every call goes through the same gate: it is recorded (tests read what the client really sent),
the knobs may make it fail, a one-shot forced answer may replace it, and then the Bearer token
and the entityId must both be right. OPPWA answers a bad token with HTTP 401 and 800.900.300,
and a refused field with HTTP 400, 200.300.404 and `parameterErrors` (docs/copyandpay.md).
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask import Blueprint, request
from werkzeug.wrappers import Response

from ..common import with_knobs
from . import widget
from .answers import NO_SESSION, answer, error, parameter_error, result
from .store import NAME, CheckoutState, CopyAndPayStore, new_checkout_id, new_payment_id

AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{2})?$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
PAYMENT_TYPES = frozenset({"DB", "PA"})
_RECORDED = 50

ApiView = Callable[..., Response]


def blueprint(store: CopyAndPayStore) -> Blueprint:
    bp = Blueprint("sandbox_copyandpay_api", __name__, url_prefix="/v1")
    guarded = functools.partial(_guarded, store)

    @bp.post("/checkouts")
    @guarded
    def prepare_checkout(form: dict[str, str]) -> Response:
        return _prepare(store, form)

    @bp.get("/checkouts/<checkout_id>/payment")
    @guarded
    def checkout_payment(form: dict[str, str], checkout_id: str) -> Response:
        with store.lock:
            checkout = store.checkouts.get(checkout_id)
            if checkout is None or checkout.expired(store.now()):
                return error(400, *NO_SESSION, store.now())
            if not checkout.payment_ids:
                body = {**result("000.200.000", "transaction pending"), "ndc": checkout.id}
                return answer(body, store.now())
            return answer(dict(store.payments[checkout.payment_ids[-1]]), store.now())

    @bp.get("/query")
    @guarded
    def query(form: dict[str, str]) -> Response:
        reference = form.get("merchantTransactionId", "")
        if not reference:
            return parameter_error("merchantTransactionId", None, "may not be empty", store.now())
        with store.lock:
            found = [dict(p) for p in store.payments_for(reference)]
        if not found:
            return error(404, "700.400.580", "cannot find transaction", store.now())
        return answer(
            {**result("000.000.100", "successful request"), "payments": found}, store.now()
        )

    @bp.post("/payments/<payment_id>")
    @guarded
    def backoffice(form: dict[str, str], payment_id: str) -> Response:
        return _refund(store, form, payment_id)

    return bp


def _guarded(store: CopyAndPayStore, view: ApiView) -> ApiView:
    """Wrap an API view in the gate every call goes through (see the module docstring)."""

    @with_knobs(store.env, NAME, lambda: _busy(store), lambda: _throttled(store))
    def checked(**kwargs: Any) -> Response:
        with store.lock:
            forced = store.forced.pop(0) if store.forced else None
        if forced is not None:
            status, body, content_type = forced
            return Response(body, status=status, content_type=content_type)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            token.encode(), store.access_token.encode()
        ):
            return error(401, "800.900.300", "invalid authentication information", store.now())
        form = (request.form if request.method == "POST" else request.args).to_dict()
        entity = form.get("entityId")
        if not entity:
            return parameter_error("entityId", None, "may not be empty", store.now())
        if entity != store.entity_id:
            return error(
                403,
                "800.900.301",
                "user authorization failed, user has no sufficient rights to process transaction",
                store.now(),
            )
        return view(form, **kwargs)

    @functools.wraps(view)
    def recorded(**kwargs: Any) -> Response:
        entry = {
            "method": request.method,
            "path": request.path,
            "authorization": request.headers.get("Authorization"),
            "content_type": request.headers.get("Content-Type"),
            "query": request.args.to_dict(),
            "form": request.form.to_dict(),
        }
        with store.lock:
            store.received = [*store.received[-(_RECORDED - 1) :], entry]
        return checked(**kwargs)

    return recorded


def _throttled(store: CopyAndPayStore) -> Response:
    """What the throttle_rate knob answers: OPPWA's `800.120.100 Rejected by Throttling`, 429."""
    return error(429, "800.120.100", "Rejected by Throttling", store.now())


def _busy(store: CopyAndPayStore) -> Response:
    """What the error_rate / timeout_rate knobs answer: a 500 or a 503, at random."""
    status = 503 if store.env.random.random() < 0.5 else 500
    return error(status, "900.100.300", "timeout, uncertain result", store.now())


def _prepare(store: CopyAndPayStore, form: dict[str, str]) -> Response:
    amount, currency = form.get("amount", ""), form.get("currency", "")
    payment_type = form.get("paymentType", "")
    if not AMOUNT.match(amount) or Decimal(amount) <= 0:
        return parameter_error(
            "amount", amount or None, r"must match ^[0-9]{1,12}(\.[0-9]{2})?$", store.now()
        )
    if not CURRENCY.match(currency):
        return parameter_error("currency", currency or None, "must match ^[A-Z]{3}$", store.now())
    if payment_type not in PAYMENT_TYPES:
        return parameter_error("paymentType", payment_type or None, "invalid value", store.now())
    checkout = CheckoutState(
        id=new_checkout_id(),
        entity_id=form["entityId"],
        amount=amount,
        currency=currency,
        payment_type=payment_type,
        merchant_transaction_id=form.get("merchantTransactionId", ""),
        shopper_result_url=form.get("shopperResultUrl", ""),
        created=store.now(),
        integrity=form.get("integrity") == "true",
    )
    with store.lock:
        store.checkouts[checkout.id] = checkout
    body: dict[str, Any] = {
        **result("000.200.100", "successfully created checkout"),
        "ndc": checkout.id,
        "id": checkout.id,
    }
    if checkout.integrity:
        body["integrity"] = widget.SCRIPT_INTEGRITY
    return answer(body, store.now())


def _refund(store: CopyAndPayStore, form: dict[str, str], payment_id: str) -> Response:
    if form.get("paymentType") != "RF":
        return parameter_error("paymentType", form.get("paymentType"), "invalid value", store.now())
    amount = form.get("amount", "")
    if not AMOUNT.match(amount):
        return parameter_error(
            "amount", amount or None, r"must match ^[0-9]{1,12}(\.[0-9]{2})?$", store.now()
        )
    with store.lock:
        debit = store.payments.get(payment_id)
        if debit is None:
            return error(400, "700.400.580", "cannot find transaction", store.now())
        refunded = sum(
            Decimal(p["amount"])
            for p in store.payments.values()
            if p.get("referencedId") == payment_id and p["result"]["code"].startswith("000.")
        )
        paid = debit["result"]["code"].startswith(("000.000.", "000.100.1"))
        if (
            not paid
            or form.get("currency") != debit["currency"]
            or refunded + Decimal(amount) > Decimal(debit["amount"])
        ):
            return error(
                400,
                "700.400.200",
                "cannot refund (refund volume exceeded or tx reversed or invalid workflow?)",
                store.now(),
            )
        record = {
            "id": new_payment_id(),
            "referencedId": payment_id,
            "paymentType": "RF",
            "amount": amount,
            "currency": debit["currency"],
            "descriptor": debit["descriptor"],
            "merchantTransactionId": debit.get("merchantTransactionId", ""),
            "result": {
                "code": "000.100.110",
                "description": "Request successfully processed in 'Merchant in Integrator "
                "Test Mode'",
            },
        }
        store.payments[record["id"]] = record
    return answer(record, store.now())
