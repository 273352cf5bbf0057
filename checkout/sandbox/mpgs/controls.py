"""Sandbox-only helpers under `/_sandbox/mpgs/`; a real gateway has nothing like them.

Tests force an order into any state (for the status table), queue the exact next API answer
(to see the client cope with a gateway error or junk), read the requests the API received, and
look at a session the way the gateway keeps it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint
from werkzeug.wrappers import Response

from ..common import forced_answer, helper_blueprint, helper_json
from .answers import JSON_LATIN1, api_answer, stamp
from .cards import card_details
from .hosted import session_or_404
from .records import order_body
from .store import NAME, MpgsStore, OrderState


def blueprint(store: MpgsStore) -> Blueprint:
    bp = helper_blueprint(NAME)

    @bp.post("/orders/<order_id>")
    def force_order(order_id: str) -> Response:
        """Put an order in any state (status-table tests): status, amounts, gatewayCode."""
        return _force_order(store, order_id, helper_json())

    @bp.post("/next-answer")
    def force_answer() -> Response:
        """The next API call (after the knobs) gets exactly this answer, auth unchecked."""
        with store.lock:
            store.forced.append(forced_answer(content_type=JSON_LATIN1))
        return api_answer({"queued": len(store.forced)})

    @bp.get("/requests")
    def received_requests() -> Response:
        """The last API requests as received (auth header included: demo credentials only)."""
        with store.lock:
            return api_answer(list(store.received))

    @bp.get("/sessions/<session_id>")
    def describe_session(session_id: str) -> Response:
        session = session_or_404(store, session_id)
        return api_answer(
            {
                "id": session.id,
                "order": session.order,
                "interaction": session.interaction,
                "expiresAt": stamp(session.expires_at),
                "apiVersion": session.api_version,
                "done": session.done,
            }
        )

    return bp


def _force_order(store: MpgsStore, order_id: str, spec: dict[str, Any]) -> Response:
    currency = str(spec.get("currency", "USD"))

    def amount(key: str, default: str = "0") -> Decimal:
        return Decimal(str(spec.get(key, default)))

    now = stamp(store.now())
    with store.lock:
        order = OrderState(
            id=order_id,
            merchant=store.merchant_id,
            amount=amount("amount", "12.50"),
            currency=currency,
            description=str(spec.get("description", "forced by a test")),
            notification_url=str(spec.get("notificationUrl", "")),
            api_version=int(spec.get("apiVersion", 100)),
            created=now,
            updated=now,
            status=str(spec.get("status", "CAPTURED")),
            authorized=amount("totalAuthorizedAmount"),
            captured=amount("totalCapturedAmount"),
            refunded=amount("totalRefundedAmount"),
            card=card_details("5123450000000008"),
        )
        store.orders[order_id] = order
        store.add_transaction(
            order,
            txn_id="1",
            txn_type=str(spec.get("transactionType", "PAYMENT")),
            result=str(spec.get("result", "SUCCESS")),
            gateway_code=str(spec.get("gatewayCode", "APPROVED")),
            amount=order.amount,
        )
        return api_answer(order_body(order))
