"""Sandbox-only helpers at `/_sandbox/coinpayments/`: the account's settings, one transaction.

Tests use them to shorten timeouts, turn on auto-confirm or deny a command, and to read a
transaction as the hosted page sees it without a page key. A real account has nothing like them.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, jsonify, request

from ..common import helper_blueprint, helper_json
from .hosted import page_view
from .lifecycle import touch
from .store import ERR_PAYMENT_ID, NAME, Store


def blueprint(store: Store) -> Blueprint:
    bp = helper_blueprint(NAME)

    @bp.route("/settings", methods=["GET", "POST"])
    def settings() -> Response | tuple[Response, int]:
        if request.method == "POST":
            try:
                with store.lock:
                    store.settings.update(helper_json())
            except (ValueError, TypeError) as exc:
                return jsonify(error=str(exc)), 400
        return jsonify(asdict(store.settings))

    @bp.get("/transactions/<txn_id>")
    def transaction(txn_id: str) -> Response | tuple[Response, int]:
        with store.lock:
            txn = store.txns.get(txn_id)
            if txn is None:
                return jsonify(error=ERR_PAYMENT_ID), 404
            touch(store, txn)
            return jsonify(page_view(store, txn))

    return bp
