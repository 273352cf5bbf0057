"""The REST API under `/api/rest/version/<N>/merchant/<id>/`: auth, the forced answers, routing.

Every call goes through the same gate, in this order: it is recorded (tests read what the client
really sent), the knobs may make it fail, a one-shot forced answer may replace it, and then
Basic auth as `merchant.<id>` must match, or the exact 401 body of B.11 comes back.
"""

from __future__ import annotations

import base64
import binascii
import functools
import secrets
from collections.abc import Callable
from typing import Any

from flask import Blueprint, request
from werkzeug.wrappers import Response

from .. import credentials
from ..common import with_knobs
from . import refunds, sessions
from .answers import api_answer, error_answer, no_such_order
from .records import order_body
from .store import NAME, MpgsStore

_PASSWORD = credentials.MPGS["api_password"]
_RECORDED = 50  # how many recent requests /_sandbox/mpgs/requests keeps

ApiView = Callable[..., Response]


def blueprint(store: MpgsStore) -> Blueprint:
    bp = Blueprint("sandbox_mpgs_api", __name__, url_prefix="/api/rest")
    guarded = functools.partial(_guarded, store)
    merchant_path = "/version/<int:version>/merchant/<merchant>"

    @bp.post(f"{merchant_path}/session")
    @guarded
    def create_session(version: int, merchant: str) -> Response:
        return sessions.create_session(store, version, merchant)

    @bp.get(f"{merchant_path}/order/<order_id>")
    @guarded
    def retrieve_order(version: int, merchant: str, order_id: str) -> Response:
        with store.lock:
            order = store.orders.get(order_id)
            if order is None:
                return no_such_order(merchant, order_id)
            return api_answer(order_body(order))

    @bp.get(f"{merchant_path}/order/<order_id>/transaction/<txn_id>")
    @guarded
    def retrieve_transaction(version: int, merchant: str, order_id: str, txn_id: str) -> Response:
        with store.lock:
            order = store.orders.get(order_id)
            if order is None:
                return no_such_order(merchant, order_id)
            record = next((t for t in order.transactions if t["transaction"]["id"] == txn_id), None)
            if record is None:
                return error_answer(
                    400,
                    "INVALID_REQUEST",
                    f"Unable to find transaction = {txn_id} for order = {order_id}",
                )
            return api_answer(record)

    @bp.put(f"{merchant_path}/order/<order_id>/transaction/<txn_id>")
    @guarded
    def put_transaction(version: int, merchant: str, order_id: str, txn_id: str) -> Response:
        return refunds.put_transaction(store, merchant, order_id, txn_id)

    @bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def unknown_resource(rest: str) -> Response:
        return error_answer(404, "INVALID_REQUEST", "Unknown resource: /api/rest/" + rest)

    return bp


def _guarded(store: MpgsStore, view: ApiView) -> ApiView:
    """Wrap an API view in the gate every call goes through (see the module docstring)."""

    @with_knobs(store.env, NAME, lambda: _busy(store), _throttled)
    def checked(version: int, merchant: str, **kwargs: Any) -> Response:
        with store.lock:
            forced = store.forced.pop(0) if store.forced else None
        if forced is not None:
            status, body, content_type = forced
            return Response(body, status=status, content_type=content_type)
        if not _authenticated(store, merchant):
            return error_answer(401, "INVALID_REQUEST", "Invalid credentials.")
        return view(version, merchant, **kwargs)

    @functools.wraps(view)
    def recorded(version: int, merchant: str, **kwargs: Any) -> Response:
        _record(store)
        return checked(version, merchant, **kwargs)

    return recorded


def _record(store: MpgsStore) -> None:
    body = request.get_json(silent=True)
    entry = {
        "method": request.method,
        "path": request.path,
        "authorization": request.headers.get("Authorization"),
        "content_type": request.headers.get("Content-Type"),
        "body": body if body is not None else request.get_data(as_text=True),
    }
    with store.lock:
        store.received = [*store.received[-(_RECORDED - 1) :], entry]


def _throttled() -> Response:
    """What the throttle_rate knob answers: HTTP 429 in the gateway's error envelope.

    Mastercard publishes no rate-limit body; the envelope is its usual one, with the busy cause
    and a Retry-After of one second (docs/rate-limits.md).
    """
    response = error_answer(429, "SERVER_BUSY", "Too many requests, please try again later")
    response.headers["Retry-After"] = "1"
    return response


def _busy(store: MpgsStore) -> Response:
    """What the error_rate / timeout_rate knobs answer: the gateway's 503 or 500, at random."""
    if store.env.random.random() < 0.5:
        return error_answer(503, "SERVER_BUSY", "The server is busy, please try again later")
    return error_answer(500, "SERVER_FAILED", "An internal server error occurred")


def _authenticated(store: MpgsStore, merchant: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, _, password = decoded.partition(":")
    return (
        merchant == store.merchant_id
        and secrets.compare_digest(user.encode(), f"merchant.{store.merchant_id}".encode())
        and secrets.compare_digest(password.encode(), _PASSWORD.encode())
    )
