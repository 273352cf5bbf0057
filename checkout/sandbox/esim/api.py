"""The order API under `/esim/v1/`: the gate every call goes through, then the order itself.

The gate, in this order: the knobs may make the call fail (a 500/503 in the provider's error
shape, an answer that never comes, or a body that is not JSON), a one-shot forced answer may
replace it, and the `X-API-Key` must match or a 401 comes back. Then an order whose reference
was seen before answers that order again (200), whatever the stock is now; a new one is checked
(422 invalid_request, 422 out_of_stock) and sold (201).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any

from flask import Blueprint, request
from werkzeug.wrappers import Response

from ...fulfilment.provider import SANDBOX_API_KEY, SANDBOX_PATH
from ..common import json_response, with_knobs
from .store import NAME, EsimStore

ApiView = Callable[..., Response]
_MAX_REFERENCE = 64


def blueprint(store: EsimStore) -> Blueprint:
    bp = Blueprint("sandbox_esim_api", __name__, url_prefix=f"{SANDBOX_PATH}/v1")

    @bp.post("/orders")
    @_guarded(store)
    def create_order() -> Response:
        return _create_order(store, request.get_json(silent=True))

    @bp.get("/orders/<reference>")
    @_guarded(store)
    def retrieve_order(reference: str) -> Response:
        with store.lock:
            order = store.orders.get(reference)
        if order is None:
            return error_answer(404, "not_found", f"No order with reference {reference}")
        return json_response(order.body())

    return bp


def error_answer(status: int, code: str, message: str) -> Response:
    """The provider's error shape."""
    return json_response({"error": {"code": code, "message": message}}, status)


def _guarded(store: EsimStore) -> Callable[[ApiView], ApiView]:
    def decorate(view: ApiView) -> ApiView:
        @with_knobs(store.env, NAME, lambda: _busy(store))
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Response:
            with store.lock:
                forced = store.forced.pop(0) if store.forced else None
            if forced is not None:
                status, body, content_type = forced
                return Response(body, status=status, content_type=content_type)
            key = request.headers.get("X-API-Key", "")
            if not secrets.compare_digest(key.encode(), SANDBOX_API_KEY.encode()):
                return error_answer(401, "unauthorized", "Missing or invalid API key")
            return view(*args, **kwargs)

        return checked

    return decorate


def _busy(store: EsimStore) -> Response:
    """What the error_rate / timeout_rate knobs answer: a 503 or a 500, at random."""
    if store.env.random.random() < 0.5:
        return error_answer(503, "service_unavailable", "Please try again later")
    return error_answer(500, "internal_error", "An internal error occurred")


def _create_order(store: EsimStore, body: Any) -> Response:
    if not isinstance(body, dict):
        return error_answer(400, "invalid_request", "The body must be a JSON object")
    plan, reference, quantity = body.get("plan"), body.get("reference"), body.get("quantity")
    if not isinstance(plan, str) or not plan:
        return error_answer(422, "invalid_request", "plan is required")
    if not isinstance(reference, str) or not 0 < len(reference) <= _MAX_REFERENCE:
        return error_answer(422, "invalid_request", f"reference: 1 to {_MAX_REFERENCE} characters")
    if quantity != 1 or isinstance(quantity, bool):
        return error_answer(422, "invalid_request", "quantity must be 1")
    with store.lock:
        existing = store.orders.get(reference)
        if existing is not None:
            if existing.plan != plan:
                return error_answer(
                    409, "idempotency_conflict", f"reference {reference} was used for another plan"
                )
            return json_response(existing.body(), 200)
        if plan in store.out_of_stock:
            return error_answer(422, "out_of_stock", f"Plan {plan} is out of stock")
        return json_response(store.buy(reference, plan).body(), 201)
