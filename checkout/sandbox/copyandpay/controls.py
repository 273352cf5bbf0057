"""Sandbox-only helpers under /_sandbox/copyandpay; the real gateway has nothing like them.

POST /webhook                 {"url": ...}: the webhook URL (the back office's setting)
GET  /requests                the last API requests, as received
POST /force                   {"status", "body", "content_type"}: the next API answer
POST /payments/<id>           {"code", "description"}: a payment reaches another result
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from ..common import forced_answer, helper_blueprint, helper_json
from . import payments
from .store import NAME, CopyAndPayStore


def blueprint(store: CopyAndPayStore) -> Blueprint:
    bp = helper_blueprint(NAME)

    @bp.post("/webhook")
    def set_webhook() -> Response:
        store.env.options.notification_urls[NAME] = str(helper_json().get("url") or "")
        return jsonify(url=store.env.options.notification_urls[NAME])

    @bp.get("/requests")
    def received() -> Response:
        with store.lock:
            return jsonify(list(store.received))

    @bp.post("/force")
    def force() -> Response:
        with store.lock:
            store.forced.append(forced_answer(default_body={}))
        return jsonify(queued=len(store.forced))

    @bp.post("/payments/<payment_id>")
    def settle(payment_id: str) -> Response | tuple[Response, int]:
        spec = helper_json()
        with store.lock:
            record = store.payments.get(payment_id)
            if record is None:
                return jsonify(error="no such payment"), 404
            payments.settle(store, record, str(spec["code"]), str(spec.get("description", "")))
            return jsonify(record)

    return bp
