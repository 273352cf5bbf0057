"""`POST /ipn/<gateway>`: IPNs and webhooks, answered by meaning.

2xx once stored (duplicates and unknown payments too, so the gateway stops retrying); 400 for a
notification that does not verify (nothing changes); 503 only when a retry would help (the
database is busy or the payment kept changing). The body limit is MAX_CONTENT_LENGTH (413).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy.exc import OperationalError

from ..extensions import csrf, db, limiter
from ..gateways.registry import plugin_for
from ..metrics import record as metrics
from ..payments.notifications import handle_notification
from ..payments.service import ConcurrencyError

log = logging.getLogger(__name__)
bp = Blueprint("ipn", __name__)


@bp.post("/ipn/<gateway>")
@csrf.exempt
@limiter.exempt
def receive(gateway: str) -> Response | tuple[Response, int]:
    if plugin_for(gateway) is None:
        log.warning("notification for unknown gateway %r", gateway)
        return jsonify(error="unknown gateway"), 404
    body = request.get_data(cache=False)
    try:
        result = handle_notification(gateway, request.headers, body)
    except (OperationalError, ConcurrencyError) as exc:
        db.session.rollback()
        metrics.notification(gateway, "busy")
        log.error("%s notification not processed, asking for a retry: %s", gateway, exc)
        return jsonify(error="busy, retry later"), 503
    metrics.notification(gateway, result.outcome)
    return Response(result.body, status=result.http_status, mimetype="text/plain")


def register(app: Flask) -> None:
    app.register_blueprint(bp)
