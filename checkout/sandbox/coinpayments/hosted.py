"""The hosted checkout page (`/index.php?cmd=checkout&id=..&key=..`) and its QR image.

A person or a test "sends" the full amount, too little, or too late, lets the timer run out and
adds confirmations one by one. Asked for JSON (`Accept: application/json`) the actions answer
the page's data instead of HTML, so tests can drive the page without parsing it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request

from .coins import f8
from .lifecycle import perform, touch
from .store import ACTIONS, ERR_PAYMENT_ID, Store, Txn


def blueprint(store: Store) -> Blueprint:
    bp = Blueprint("sandbox_coinpayments_page", __name__)

    @bp.get("/index.php")
    def page() -> Response | tuple[str, int] | str:
        with store.lock:
            txn = store.find(request.args)
            if txn is None:
                return render_template("coinpayments/missing.html"), 404
            touch(store, txn)
            view = page_view(store, txn)
        return render_template(
            "coinpayments/checkout.html",
            t=view,
            controls=request.args.get("cmd") == "checkout",
            done=ACTIONS.get(request.args.get("done", "")),
        )

    @bp.post("/index.php")
    def act() -> Response | tuple[str, int] | tuple[Response, int]:
        wants_json = request.accept_mimetypes.best == "application/json"
        action = request.form.get("action", "")
        with store.lock:
            txn = store.find(request.values)
            if txn is None:
                if wants_json:
                    return jsonify(error=ERR_PAYMENT_ID), 404
                return render_template("coinpayments/missing.html"), 404
            touch(store, txn)
            refusal = perform(store, txn, action)
            view = page_view(store, txn)
        if refusal:
            if wants_json:
                return jsonify(error=refusal, transaction=view), 409
            page_html = render_template(
                "coinpayments/checkout.html", t=view, controls=True, done=None, refusal=refusal
            )
            return page_html, 409
        if wants_json:
            return jsonify(view), 200
        return redirect(f"{view['checkout_url']}&done={action}", 303)

    @bp.get("/qrgen.php")
    def qrcode() -> Response | tuple[str, int]:
        with store.lock:
            txn = store.find(request.args)
            if txn is None:
                return "not found", 404
            label = txn.address
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="160" role="img" '
            f'aria-label="QR code for {label}"><rect width="160" height="160" fill="#fff"/>'
            '<text x="80" y="84" font-size="12" text-anchor="middle">sandbox QR</text></svg>'
        )
        return Response(svg, mimetype="image/svg+xml")

    return bp


def page_urls(txn: Txn) -> dict[str, str]:
    """The page, status and QR addresses the API hands out, on the host the call came to."""
    base = request.host_url.rstrip("/")
    ids = f"id={txn.txn_id}&key={txn.key}"
    return {
        "checkout_url": f"{base}/index.php?cmd=checkout&{ids}",
        "status_url": f"{base}/index.php?cmd=status&{ids}",
        "qrcode_url": f"{base}/qrgen.php?{ids}",
    }


def page_view(store: Store, txn: Txn) -> dict[str, Any]:
    """Everything the page shows about `txn` (also the JSON answer of its actions)."""
    now = store.env.clock.timestamp()
    return {
        "txn_id": txn.txn_id,
        "status": txn.status,
        "status_text": txn.status_text,
        "item_name": txn.extra.get("item_name", ""),
        "amount1": txn.amount1,
        "currency1": txn.currency1,
        "coin": txn.currency2,
        "amount": f8(txn.due),
        "received": f8(txn.received),
        "remaining": f8(txn.remaining),
        "address": txn.address,
        "dest_tag": txn.dest_tag,
        "confirms": txn.confirms,
        "confirms_needed": txn.confirms_needed,
        "now": now,
        "expires": txn.expires,
        "seconds_left": max(0, txn.expires - now) if txn.status == 0 else 0,
        **page_urls(txn),
        "success_url": txn.success_url,
        "cancel_url": txn.cancel_url if txn.status == 0 and not txn.received else "",
    }
