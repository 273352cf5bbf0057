"""APScheduler wiring for the sweep and the fulfilment outbox.

Two jobs: the sweep every SWEEP_INTERVAL_SECONDS and an outbox pass every
OUTBOX_INTERVAL_SECONDS. Two ways to run them, never both for one deployment:

- `start(app)`: a BackgroundScheduler inside the web process. `make run` uses it (one process,
  SQLite). Under gunicorn every worker would start its own, so production does not use it.
- `run_blocking(app)`: `flask scheduler`, a process of its own beside the gunicorn workers.

Either way each job runs with `max_instances=1` and `coalesce=True`: a run that outlasts the
interval is not started twice, and runs missed while the process was busy collapse into one.
Other sweepers (the cron URL, the CLI, a second scheduler by mistake) are made harmless by the
sweep's row claims, and other outbox workers (`flask outbox run`, the kick) by the outbox's
leases, not by the scheduler.
"""

from __future__ import annotations

import atexit
import logging
import signal
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from .extensions import db

log = logging.getLogger(__name__)

JOB_ID = "sweep-pending"
OUTBOX_JOB_ID = "outbox"
_EXTENSION = "tollgate_scheduler"


def init_app(app: Flask) -> None:
    """Reserve the slot `start` fills; starting is left to `make run` or `flask scheduler`."""
    app.extensions.setdefault(_EXTENSION, None)


def run_sweep_job(app: Flask) -> None:
    """The job: one sweep inside an app context. Errors are logged, never kill the scheduler."""
    from .payments.sweep import sweep_pending

    with app.app_context():
        try:
            sweep_pending("scheduler")
        except Exception:
            log.exception("scheduled sweep failed")
            db.session.rollback()


def run_outbox_job(app: Flask) -> None:
    """The job: outbox passes until nothing is due. Errors are logged, never kill the scheduler."""
    from .fulfilment.outbox import drain

    with app.app_context():
        try:
            drain()
        except Exception:
            log.exception("scheduled outbox pass failed")
            db.session.rollback()


def add_outbox_job(scheduler: BaseScheduler, app: Flask, *, first_run_in: float = 5.0) -> None:
    seconds = app.config["OUTBOX_INTERVAL_SECONDS"]
    scheduler.add_job(
        run_outbox_job,
        "interval",
        args=[app],
        id=OUTBOX_JOB_ID,
        name="deliver the fulfilment outbox",
        seconds=seconds,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=seconds,
        next_run_time=datetime.now(UTC) + timedelta(seconds=first_run_in),
        replace_existing=True,
    )


def add_sweep_job(scheduler: BaseScheduler, app: Flask, *, first_run_in: float = 5.0) -> None:
    scheduler.add_job(
        run_sweep_job,
        "interval",
        args=[app],
        id=JOB_ID,
        name="sweep pending payments",
        seconds=app.config["SWEEP_INTERVAL_SECONDS"],
        max_instances=1,
        coalesce=True,
        misfire_grace_time=app.config["SWEEP_INTERVAL_SECONDS"],
        next_run_time=datetime.now(UTC) + timedelta(seconds=first_run_in),
        replace_existing=True,
    )


def start(app: Flask, *, first_run_in: float = 5.0) -> BackgroundScheduler:
    """Run the sweep and the outbox in a background thread of this process (idempotent per app)."""
    existing = app.extensions.get(_EXTENSION)
    if existing is not None:
        return existing
    scheduler = BackgroundScheduler(timezone=UTC, daemon=True)
    add_sweep_job(scheduler, app, first_run_in=first_run_in)
    add_outbox_job(scheduler, app, first_run_in=first_run_in)
    scheduler.start()
    app.extensions[_EXTENSION] = scheduler
    atexit.register(_shutdown, scheduler)
    log.info(
        "in-process sweep every %s s, outbox every %s s",
        app.config["SWEEP_INTERVAL_SECONDS"],
        app.config["OUTBOX_INTERVAL_SECONDS"],
    )
    return scheduler


def stop(app: Flask) -> None:
    scheduler = app.extensions.get(_EXTENSION)
    if scheduler is not None:
        _shutdown(scheduler)
        app.extensions[_EXTENSION] = None


def run_blocking(app: Flask, *, first_run_in: float = 1.0) -> None:
    """`flask scheduler`: the sweep and the outbox on their intervals until SIGTERM or Ctrl-C."""
    scheduler = BlockingScheduler(timezone=UTC)
    add_sweep_job(scheduler, app, first_run_in=first_run_in)
    add_outbox_job(scheduler, app, first_run_in=first_run_in)

    def _terminate(signum: int, _frame: FrameType | None) -> None:
        log.info("scheduler got signal %s, finishing the running jobs", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _terminate)
    log.info(
        "scheduler running: sweep every %s s, outbox every %s s",
        app.config["SWEEP_INTERVAL_SECONDS"],
        app.config["OUTBOX_INTERVAL_SECONDS"],
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=True)


def _shutdown(scheduler: BaseScheduler) -> None:
    if scheduler.running:
        scheduler.shutdown(wait=False)
