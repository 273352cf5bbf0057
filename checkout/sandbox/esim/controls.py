"""Sandbox-only helpers under `/_sandbox/esim/`; a real provider has nothing like them.

Tests take a plan out of stock (and put it back), read how many eSIMs were bought for each
reference (the proof that a retry never buys a second), and queue the exact next API answer.
"""

from __future__ import annotations

from flask import Blueprint
from werkzeug.wrappers import Response

from ..common import forced_answer, helper_blueprint, helper_json, json_response
from .store import NAME, EsimStore


def blueprint(store: EsimStore) -> Blueprint:
    bp = helper_blueprint(NAME)

    @bp.post("/stock")
    def set_stock() -> Response:
        """{"plan": slug, "in_stock": false} takes a plan out of stock; true puts it back."""
        spec = helper_json()
        plan = str(spec.get("plan") or "")
        if not plan:
            return json_response({"error": "plan is required"}, 400)
        with store.lock:
            if spec.get("in_stock", True):
                store.out_of_stock.discard(plan)
            else:
                store.out_of_stock.add(plan)
            return json_response({"out_of_stock": sorted(store.out_of_stock)})

    @bp.get("/orders")
    def orders() -> Response:
        """Per reference: how many eSIMs were bought, and the order as the API answers it."""
        with store.lock:
            return json_response(
                {
                    reference: {"bought": store.bought[reference], **order.body()["data"]}
                    for reference, order in store.orders.items()
                }
            )

    @bp.post("/next-answer")
    def force_answer() -> Response:
        """The next API call (after the knobs) gets exactly this answer, key unchecked."""
        with store.lock:
            store.forced.append(forced_answer())
            return json_response({"queued": len(store.forced)})

    return bp
