"""The sweep: bring every due pending payment to the truth its gateway holds.

Notifications get lost, shoppers close tabs, gateways go down. The sweep is what makes a payment
reach a final status anyway. One run:

1. streams the due payments in pages (keyset on id, SWEEP_PAGE_SIZE rows), so memory stays flat
   however many are pending. Due means PENDING, or CREATED for over a minute (we crashed between
   our insert and the gateway's answer), with `next_check_at` reached;
2. claims each page for this run, so several sweepers (two app processes, the scheduler and the
   cron URL) never poll one payment twice in a round: `FOR UPDATE SKIP LOCKED` on PostgreSQL, a
   conditional lease update (`claimed_until`) elsewhere;
3. asks each gateway in batches of its `batch_size` through a bounded worker pool per gateway
   (SWEEP_WORKERS threads, each with its own app context and database session);
4. feeds every answer to the funnel (a task's plain answers together through
   `record_observations`, expiries through `record_observation`) and every transport error to
   `record_error`, which backs the payment off. Nothing here writes a status itself.

A payment the gateway still calls pending past `expires_at` + SWEEP_GRACE_SECONDS, or that is
leaving the SWEEP_WINDOW_HOURS window, has its checkout closed (`gateway.expire`, which Stripe
uses to close the session so nobody can pay it afterwards) and becomes EXPIRED. A CREATED payment
with no gateway reference never reached a hosted page, so no money can have moved: it becomes
CANCELLED without a gateway call. Money that still arrives after expiry completes the payment
through the funnel's late-payment rule.

The parts live in their own modules: `sweep_scope` (which payments are due, and the dry run),
`sweep_claims` (how a run claims and releases pages) and `sweep_polling` (one gateway's pages
through its worker pool, expiry included). This module runs them and records the outcome.

A run's SweepRun row says how far it got while it runs (`checked` and a heartbeat in `details`,
written at most every HEARTBEAT_SECONDS). A run killed half way (a worker timeout, a deploy)
never finishes its row: once it has shown no sign of life for SWEEP_LEASE_SECONDS, as long as
its claims on payments last, it is marked aborted, when the next run starts or when the row is
read (`abort_stale`). Its claims simply run out, as every lease does.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from ..extensions import db
from ..metrics import record as metrics
from ..models import Payment, SweepRun, utcnow
from .sweep_claims import owner_id, release
from .sweep_polling import Run, Tally, sweep_gateway
from .sweep_scope import (
    CREATED_GRACE,
    count_due,
    dry_run_record,
    is_due,
    scope_for,
    window_hours,
)

__all__ = [
    "CREATED_GRACE",
    "ProgressCallback",
    "abort_stale",
    "count_due",
    "start_run",
    "state_of",
    "summary",
    "sweep_pending",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]

RUNNING, FINISHED, ABORTED = "running", "finished", "aborted"
HEARTBEAT_SECONDS = 5.0  # at most one progress write per this many seconds


def start_run(trigger: str) -> SweepRun:
    """Record a new run (after marking stale ones aborted), for a caller that answers at once."""
    abort_stale()
    record = SweepRun(trigger=trigger[:16], started_at=utcnow(), details={"state": RUNNING})
    db.session.add(record)
    db.session.commit()
    return record


def sweep_pending(
    trigger: str,
    *,
    hours: int | None = None,
    gateway: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
    record: SweepRun | None = None,
) -> SweepRun:
    """Reconcile every due open payment once; return the recorded SweepRun.

    `hours` narrows or widens the window of a single run (a catch-up after a long outage);
    payments older than both it and SWEEP_WINDOW_HOURS are the ones that get their last check.
    `dry_run` calls no gateway and writes nothing: the returned SweepRun (not saved) counts what
    is due, per gateway, in `details`. `now` lets tests and catch-up runs decide as of another
    moment. `progress` is called with the number of payments finished after each batch.
    `record` is a run already recorded by `start_run` (the cron URL answers with its id first).
    """
    app = current_app._get_current_object()
    scope = scope_for(app, hours, gateway, now or utcnow())
    if dry_run:
        return dry_run_record(trigger, scope)

    run = Run(app, scope, owner_id())
    record = db.session.merge(record) if record is not None else start_run(trigger)
    log.info("sweep %s (%s) started as %s", record.id, trigger, run.owner)
    try:
        _run_gateways(run, _Heartbeat(record.id, progress))
    finally:
        release(run.owner, None)
        _finish(record, run)
    return record


def state_of(run: SweepRun) -> str:
    """running, finished or aborted (a run that stopped without finishing, see abort_stale)."""
    if run.finished_at is None:
        return RUNNING
    return ABORTED if (run.details or {}).get("state") == ABORTED else FINISHED


def abort_stale(run_id: int | None = None) -> int:
    """Mark unfinished runs with no sign of life for SWEEP_LEASE_SECONDS aborted; how many.

    Such a run was killed (its claims have run out by now too): left alone it would say
    "running" forever. `run_id` limits the check to one run (the progress URL reads one).
    """
    lease = timedelta(seconds=current_app.config["SWEEP_LEASE_SECONDS"])
    now = utcnow()
    query = select(SweepRun).where(SweepRun.finished_at.is_(None))
    if run_id is not None:
        query = query.where(SweepRun.id == run_id)
    aborted: list[str] = []  # their triggers
    for run in db.session.scalars(query).all():
        details = dict(run.details or {})
        seen = details.get("heartbeat")
        last = datetime.fromisoformat(seen) if seen else run.started_at
        if last > now - lease:
            continue
        details.update(state=ABORTED, reason=f"no sign of life since {last.isoformat()}")
        done = db.session.execute(
            update(SweepRun)
            .where(SweepRun.id == run.id, SweepRun.finished_at.is_(None))
            .values(finished_at=now, details=details)
        )
        if done.rowcount:
            aborted.append(run.trigger)
            log.warning("sweep %s: no sign of life since %s, marked aborted", run.id, last)
    db.session.commit()
    for trigger in aborted:
        metrics.sweep_aborted(trigger)
    return len(aborted)


def summary(run: SweepRun) -> dict[str, Any]:
    """A SweepRun as plain data, for the cron URL's JSON and the CLI's table."""
    seconds = None
    if run.finished_at and run.started_at:
        seconds = round((run.finished_at - run.started_at).total_seconds(), 3)
    return {
        "id": run.id,
        "state": state_of(run),
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "seconds": seconds,
        "checked": run.checked,
        "changed": run.changed,
        "expired": run.expired,
        "errors": run.errors,
        "gateway_calls": run.gateway_calls,
        "details": run.details or {},
    }


# -- polling ----------------------------------------------------------------------------------


def _run_gateways(run: Run, progress: ProgressCallback | None) -> None:
    """One coordinator thread per gateway with due payments; progress reported from here.

    Gateways are independent: a slow or broken one does not hold the others back.
    """
    names = list(db.session.scalars(select(Payment.gateway).where(is_due(run.scope)).distinct()))
    db.session.commit()
    done: queue.SimpleQueue[int] = queue.SimpleQueue()
    with ThreadPoolExecutor(max_workers=max(1, len(names)), thread_name_prefix="sweep") as pool:
        futures = {pool.submit(sweep_gateway, run, name, done): name for name in names}
        while futures:
            finished, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            _report(done, progress)
            for future in finished:
                name = futures.pop(future)
                try:
                    run.tallies[name] = future.result()
                except Exception:
                    log.exception("sweep: the %s sweep stopped early", name)
                    run.tallies[name] = Tally(errors=1)
    _report(done, progress)


def _report(done: queue.SimpleQueue[int], progress: ProgressCallback | None) -> None:
    while True:
        try:
            size = done.get_nowait()
        except queue.Empty:
            return
        if progress is not None:
            progress(size)


# -- bookkeeping ------------------------------------------------------------------------------


class _Heartbeat:
    """The progress callback of a run: counts on its SweepRun row, then the caller's callback.

    Called from the coordinator thread only; writes at most every HEARTBEAT_SECONDS, so a run of
    many small batches does not add a commit per batch.
    """

    def __init__(self, run_id: int, progress: ProgressCallback | None) -> None:
        self.run_id = run_id
        self.progress = progress
        self.checked = 0
        self._written = time.monotonic()

    def __call__(self, size: int) -> None:
        self.checked += size
        if time.monotonic() - self._written >= HEARTBEAT_SECONDS:
            self._written = time.monotonic()
            details = {"state": RUNNING, "heartbeat": utcnow().isoformat()}
            db.session.execute(
                update(SweepRun)
                .where(SweepRun.id == self.run_id, SweepRun.finished_at.is_(None))
                .values(checked=self.checked, details=details)
            )
            db.session.commit()
        if self.progress is not None:
            self.progress(size)


def _finish(record: SweepRun, run: Run) -> None:
    db.session.rollback()
    record = db.session.merge(record)
    total = Tally()
    for tally in run.tallies.values():
        total.add(tally)
    record.finished_at = utcnow()
    record.checked = total.checked
    record.changed = total.changed
    record.expired = total.expired
    record.errors = total.errors
    record.gateway_calls = total.calls
    record.details = {
        "state": FINISHED,
        "owner": run.owner,
        "cancelled": total.cancelled,
        "window_hours": window_hours(run.scope),
        "gateway": run.scope.gateway,
        "gateways": {name: vars(t) for name, t in sorted(run.tallies.items())},
    }
    ended = (record.trigger, (record.finished_at - record.started_at).total_seconds())
    db.session.commit()
    metrics.sweep_finished(*ended, {name: t.checked for name, t in run.tallies.items()})
    log.info(
        "sweep %s finished: %d checked, %d changed, %d expired, %d errors, %d gateway calls",
        record.id,
        total.checked,
        total.changed,
        total.expired,
        total.errors,
        total.calls,
    )
