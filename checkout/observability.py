"""Health endpoints, a request id, and log lines that say which request and payment they are about.

`/healthz` answers as long as the process serves requests; `/readyz` answers 503 when this
process should get no traffic: the database unreachable, its schema behind the code, or (when
required) no sweep for too long. Both are plain JSON, exempt from rate limits and CSRF, and
name no setting or secret.

Every request gets an id (the caller's `X-Request-ID` when it is a sane token, else a fresh
one), returned as `X-Request-ID` and kept in a contextvar with, once a view loads one, the
payment's ref and gateway. `ContextFilter` copies them onto every log record; in production
`JsonFormatter` writes each record as one JSON object per line.

Every answer is also counted for `/metrics` by endpoint and status, with the time from the
first before_request hook (this module's, installed first) to the last after_request hook.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import text

from .extensions import csrf, db, limiter
from .metrics import record as metrics

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
payment_ref: ContextVar[str | None] = ContextVar("payment_ref", default=None)
payment_gateway: ContextVar[str | None] = ContextVar("payment_gateway", default=None)
_started: ContextVar[float | None] = ContextVar("request_started", default=None)

HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: the newest sweep may be this many sweep intervals old before the scheduler counts as stalled
HEARTBEAT_INTERVALS = 3
_EXTENSION = "tollgate_observability"
#: loggers that may have handlers of their own besides the root's (as in hostile_input)
_LOGGERS = ("werkzeug", "gunicorn.error", "gunicorn.access")

bp = Blueprint("health", __name__)


def in_payment(ref: str, gateway: str) -> None:
    """Name the payment this request is about, for every log line written from now on."""
    payment_ref.set(ref)
    payment_gateway.set(gateway)


def sane_request_id(value: str | None) -> str | None:
    """`value` when it is a short token safe to log and echo, else None."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return None


def _begin_request() -> None:
    _started.set(time.perf_counter())
    request_id.set(sane_request_id(request.headers.get(HEADER)) or uuid.uuid4().hex)
    payment_ref.set(None)
    payment_gateway.set(None)


def _tag_response(response: Response) -> Response:
    rid = request_id.get()
    if rid:
        response.headers[HEADER] = rid
    return response


def _count_response(response: Response) -> Response:
    """Count the answer by endpoint and status, with the time since `_begin_request`."""
    started = _started.get()
    if started is not None:
        metrics.http_request(request.endpoint, response.status_code, time.perf_counter() - started)
    return response


def _end_request(_error: BaseException | None) -> None:
    """A worker thread serves the next request: nothing of this one may leak into its logs."""
    _started.set(None)
    request_id.set(None)
    payment_ref.set(None)
    payment_gateway.set(None)


class ContextFilter(logging.Filter):
    """Copies the request id, payment ref and gateway onto a record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.payment_ref = payment_ref.get()
        record.gateway = payment_gateway.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record. json.dumps escapes every control character, and the message
    has already been through hostile_input.EscapeControls, so a record stays one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ("request_id", "payment_ref", "gateway"):
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving; nothing else is looked at."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Whether this process should get traffic; 503 with the failing check named when not."""
    checks: dict[str, str] = {}
    warnings: list[str] = []
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["migrations"] = _migrations_check()
        checks["scheduler"] = _scheduler_check(warnings)
    except Exception:
        current_app.logger.warning("readiness: the database is unreachable", exc_info=True)
        checks["database"] = "unreachable"
    finally:
        db.session.rollback()
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ok" if ready else "unready", "checks": checks}
    if warnings:
        body["warnings"] = warnings
    return jsonify(body), 200 if ready else 503


def _migrations_check() -> str:
    """ "ok" when the database's Alembic revision is the scripts' head. Cached per process after
    the first success: the schema does not go backwards under a running process."""
    state = current_app.extensions[_EXTENSION]
    if state.get("at_head"):
        return "ok"
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    if "head" not in state:
        state["head"] = ScriptDirectory(
            current_app.extensions["migrate"].directory
        ).get_current_head()
    current = MigrationContext.configure(db.session.connection()).get_current_revision()
    if current != state["head"]:
        return "behind"
    state["at_head"] = True
    return "ok"


def _scheduler_check(warnings: list[str]) -> str:
    """From what is stored: the newest SweepRun must have started within a few sweep intervals.

    A process that runs no scheduler itself (gunicorn's workers, with `flask scheduler` beside
    them) only warns, unless READYZ_REQUIRE_SCHEDULER says a missing sweep makes it unready.
    A process whose own scheduler started less than that long ago is still waiting for its
    first sweep.
    """
    from .models import SweepRun

    config = current_app.config
    limit = timedelta(seconds=HEARTBEAT_INTERVALS * config["SWEEP_INTERVAL_SECONDS"])
    newest = db.session.scalar(db.select(db.func.max(SweepRun.started_at)))
    now = datetime.now(UTC)
    if newest is not None and now - newest.replace(tzinfo=newest.tzinfo or UTC) <= limit:
        return "ok"
    state = current_app.extensions[_EXTENSION]
    runs_here = current_app.extensions.get("tollgate_scheduler") is not None
    if runs_here and time.monotonic() - state["started"] <= limit.total_seconds():
        return "ok"
    if runs_here or config["READYZ_REQUIRE_SCHEDULER"]:
        return "stalled"
    warnings.append("no sweep recorded recently and no scheduler runs in this process")
    return "ok"


def configure_logging(production: bool) -> None:
    """Tag every handler's records with the request context; JSON lines in production."""
    for logger in (logging.getLogger(), *map(logging.getLogger, _LOGGERS)):
        for handler in logger.handlers:
            if not any(isinstance(f, ContextFilter) for f in handler.filters):
                handler.addFilter(ContextFilter())
            if production:
                handler.setFormatter(JsonFormatter())


def install(app: Flask, *, production: bool) -> None:
    """Request ids, health endpoints and log context for `app`; call before other hooks."""
    app.extensions[_EXTENSION] = {"started": time.monotonic()}
    app.before_request(_begin_request)
    app.after_request(_tag_response)
    app.after_request(_count_response)
    app.teardown_request(_end_request)
    csrf.exempt(bp)
    limiter.exempt(bp)
    app.register_blueprint(bp)
    configure_logging(production)
