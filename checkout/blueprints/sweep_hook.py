"""`POST /status/sweep`: the sweep for an external cron, guarded by a bearer token.

For deployments that would rather not run `flask scheduler`: a cron job posts here with
`Authorization: Bearer <SWEEP_TOKEN>`. The token is compared in constant time. Without a
configured token the URL is off: every call answers 401 and nothing runs. It is CSRF-exempt (a
machine calls it, with no session) and rate-limited, and it answers the SweepRun as JSON once the
sweep has finished.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..extensions import csrf, db, limiter
from ..payments.sweep import summary, sweep_pending

log = logging.getLogger(__name__)
bp = Blueprint("sweep_hook", __name__)


@bp.post("/status/sweep")
@csrf.exempt
@limiter.limit("30/minute")
def run() -> tuple[Response, int]:
    if not _authorised():
        log.warning("sweep URL refused: missing or wrong token from %s", request.remote_addr)
        response = jsonify(error="unauthorised", detail="a valid bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="sweep"'
        return response, 401
    try:
        record = sweep_pending("url")
    except Exception:
        db.session.rollback()
        log.exception("sweep started from the URL failed")
        return jsonify(error="sweep failed", detail="see the server log"), 500
    return jsonify(summary(record)), 200


def _authorised() -> bool:
    expected = current_app.config.get("SWEEP_TOKEN") or ""
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def register(app: Flask) -> None:
    app.register_blueprint(bp)
