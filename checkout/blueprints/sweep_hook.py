"""`POST /status/sweep`: the sweep for an external cron, guarded by a bearer token.

For deployments that would rather not run `flask scheduler`: a cron job posts here with
`Authorization: Bearer <SWEEP_TOKEN>`. The token is compared in constant time. Without a
configured token the URL is off: every call answers 401 and nothing runs. It is CSRF-exempt (a
machine calls it, with no session) and rate-limited.

A sweep can take far longer than a web request may (docs/operations.md, "Time budget"), so the
request only records the run and starts it in a background thread with its own app context,
then answers 202 with the SweepRun and a Location: `GET /status/sweep/<id>` (same token) says
how far it got. If the worker dies under the thread, the run's claims run out and the run is
marked aborted later (payments/sweep.py, `abort_stale`).
"""

from __future__ import annotations

import logging
import threading

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for

from ..extensions import csrf, db, limiter
from ..models import SweepRun
from ..payments.sweep import abort_stale, start_run, summary, sweep_pending
from .bearer import bearer_matches

log = logging.getLogger(__name__)
bp = Blueprint("sweep_hook", __name__)


@bp.post("/status/sweep")
@csrf.exempt
@limiter.limit("30/minute")
def run() -> tuple[Response, int]:
    if not _authorised():
        return _refused()
    record = start_run("url")
    app = current_app._get_current_object()
    threading.Thread(
        target=_sweep_in_background, args=(app, record.id), name=f"sweep-{record.id}", daemon=True
    ).start()
    response = jsonify(summary(record))
    response.headers["Location"] = url_for("sweep_hook.progress", run_id=record.id)
    return response, 202


@bp.get("/status/sweep/<int:run_id>")
@limiter.limit("120/minute")
def progress(run_id: int) -> tuple[Response, int]:
    """How far run `run_id` got: its state (running, finished, aborted) and its counts."""
    if not _authorised():
        return _refused()
    abort_stale(run_id)
    record = db.session.get(SweepRun, run_id)
    if record is None:
        return jsonify(error="not found", detail=f"no sweep run {run_id}"), 404
    return jsonify(summary(record)), 200


def _sweep_in_background(app: Flask, run_id: int) -> None:
    """Run the recorded sweep outside the request; sweep_pending finishes the row either way."""
    with app.app_context():
        try:
            sweep_pending("url", record=db.session.get(SweepRun, run_id))
        except Exception:
            db.session.rollback()
            log.exception("sweep %s started from the URL failed", run_id)
        finally:
            db.session.remove()


def _refused() -> tuple[Response, int]:
    log.warning("sweep URL refused: missing or wrong token from %s", request.remote_addr)
    response = jsonify(error="unauthorised", detail="a valid bearer token is required")
    response.headers["WWW-Authenticate"] = 'Bearer realm="sweep"'
    return response, 401


def _authorised() -> bool:
    return bearer_matches(current_app.config.get("SWEEP_TOKEN") or "")


def register(app: Flask) -> None:
    app.register_blueprint(bp)
