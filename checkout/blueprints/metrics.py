"""`GET /metrics`: the Prometheus text format, for Prometheus and nobody else.

With METRICS_TOKEN set, a scrape must send `Authorization: Bearer <METRICS_TOKEN>` (compared in
constant time); anything else is 401. Without a token, only a request made straight from this
host is answered: its address is loopback and it carries no proxy header (a proxy on the same
host forwarding someone else's request would otherwise look local); anyone else gets 403 and
the hint to set a token. The body names no secret, payment or shopper: counts, durations and
states only (docs/operations.md, "Metrics").

Exempt from rate limits (a scrape every few seconds is normal) and CSRF (a GET with no session).
"""

from __future__ import annotations

import ipaddress
import logging

from flask import Blueprint, Flask, Response, current_app, request

from ..extensions import csrf, limiter
from ..metrics import directory, exposition
from .bearer import bearer_matches

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

#: headers a reverse proxy adds: a request with one came from somewhere else
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


@bp.get("/metrics")
def scrape() -> Response:
    refusal = _refusal()
    if refusal is not None:
        return refusal
    response = Response(exposition.render(), content_type=exposition.CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


def _refusal() -> Response | None:
    """None when the caller may read the metrics, else the answer to give it."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        if bearer_matches(token):
            return None
        log.warning("/metrics refused: missing or wrong token from %s", request.remote_addr)
        refused = Response("a valid bearer token is required\n", 401, mimetype="text/plain")
        refused.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    if _from_this_host():
        return None
    log.warning("/metrics refused: no METRICS_TOKEN and not local (%s)", request.remote_addr)
    return Response("set METRICS_TOKEN to scrape from another host\n", 403, mimetype="text/plain")


def _from_this_host() -> bool:
    if any(header in request.headers for header in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def register(app: Flask) -> None:
    directory.prepare()
    csrf.exempt(bp)
    limiter.exempt(bp)
    app.register_blueprint(bp)
