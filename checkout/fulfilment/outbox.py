"""The transactional outbox: what must follow "paid" is a row, delivered until it is done.

The paying transition writes its jobs in the transaction that claims the order, so a crash
after the commit loses nothing. The worker (`run_once`) claims due jobs, runs each job's handler
outside any transaction of its own, and records the result in one short transaction: done plus
the follow-up jobs, or the error with the next attempt pushed back exponentially, or dead.

Claims are leases, as the sweep's are: `FOR UPDATE SKIP LOCKED` on PostgreSQL so two workers
never wait for or take the same row, a conditional UPDATE on SQLite (which serialises writers).
Each claim counts an attempt, and the attempt number with the lease's end is the claim's fence:
a worker whose lease ran out and was taken over cannot record a result over the new owner's.
A job whose worker died (kill -9, OOM) is claimed again once its lease runs out, and one that
keeps killing its worker is dead-lettered after OUTBOX_MAX_ATTEMPTS like any other failure.
Handlers are idempotent by order ref, so running a job twice is safe; the fence only keeps
the bookkeeping honest.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, func, or_, select, update

from ..extensions import db
from ..models import JobState, Order, OutboxJob, utcnow
from .jobs import HANDLERS, JobKind, JobRefused, JobRetry
from .worker import kicker_for

log = logging.getLogger(__name__)

_MAX_PASSES = 20  # a kick's drain stops after this many full passes; the scheduler does the rest
_ERROR_LENGTH = 2000
_LEASE_LOST = "lease ran out: the worker died or overran"


@dataclass(frozen=True)
class _Claim:
    job_id: int
    attempt: int  # the attempt number this claim made: with the lease, the claim's fence
    lease_until: datetime
    reclaimed: bool  # its previous worker's lease ran out


def enqueue(jobs: Iterable[OutboxJob]) -> None:
    """Insert jobs in the caller's transaction; a job whose key already exists is left alone."""
    now = utcnow()
    rows = [
        {
            "key": job.key,
            "kind": str(job.kind),
            "order_id": job.order_id,
            "payload": job.payload or {},
            "state": JobState.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for job in jobs
    ]
    if not rows:
        return
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif db.engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - Tollgate runs on PostgreSQL and SQLite only
        raise RuntimeError(f"no insert-or-ignore for {db.engine.dialect.name}")
    statement = dialect_insert(OutboxJob.__table__).on_conflict_do_nothing(index_elements=["key"])
    db.session.execute(statement, rows)


def run_once(limit: int = 50, stop: threading.Event | None = None) -> int:
    """One pass: claim up to `limit` due jobs and run them. Returns how many ran.

    When `stop` is set mid-pass, the claims not yet started are let go at once.
    """
    _log_unhandled()
    claims = _claim(limit)
    for n, claim in enumerate(claims):
        if stop is not None and stop.is_set():
            _release(claims[n:])
            return n
        _run(claim)
    return len(claims)


def drain(max_passes: int = _MAX_PASSES, stop: threading.Event | None = None) -> int:
    """Passes until nothing is due (follow-up jobs included), at most `max_passes`."""
    total = 0
    for _ in range(max_passes):
        if stop is not None and stop.is_set():
            break
        ran = run_once(stop=stop)
        total += ran
        if ran == 0:
            break
    return total


def run_forever(interval: float) -> None:
    """`flask outbox run`: drain, sleep `interval`, again, until SIGTERM or Ctrl-C.

    SIGTERM lets the running job finish and record its result before the process exits.
    """
    stop = threading.Event()

    def _terminate(signum: int, _frame: FrameType | None) -> None:
        log.info("outbox worker got signal %s, finishing the running job", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _terminate)
    log.info("outbox worker running every %s s", interval)
    try:
        while not stop.is_set():
            try:
                drain(stop=stop)
            except Exception:
                log.exception("outbox pass failed")
                db.session.rollback()
            stop.wait(interval)
    except KeyboardInterrupt:
        log.info("outbox worker interrupted")


def kick() -> None:
    """Deliver soon after the current request's commit, as OUTBOX_KICK says.

    "thread" (the default) runs a drain in this process's kick thread and returns at once;
    "inline" drains now, in a fresh app context (its own session), and returns when done;
    "off" leaves everything to the scheduled worker.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    mode = app.config["OUTBOX_KICK"]
    if mode == "thread":
        kicker_for(app, drain).kick()
    elif mode == "inline":
        try:
            with app.app_context():
                drain()
        except Exception:
            log.exception("outbox kick failed; the scheduled worker will retry")
    elif mode != "off":
        raise ValueError(f"OUTBOX_KICK must be thread, inline or off, not {mode!r}")


def wait_idle(timeout: float = 10.0) -> bool:
    """Block until this app's kick thread has nothing to do (tests use it)."""
    return kicker_for(current_app._get_current_object(), drain).wait_idle(timeout)  # type: ignore[attr-defined]


def retry(job_id: int) -> bool:
    """Staff: a dead job back to pending now, with a fresh round of attempts.

    The last error stays until the next attempt's outcome replaces it. False when the job is
    not dead (already retried, done, or still being tried).
    """
    result = db.session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == job_id, OutboxJob.state == JobState.DEAD)
        .values(state=JobState.PENDING, attempts=0, next_attempt_at=utcnow(), lease_until=None)
    )
    db.session.commit()
    if result.rowcount != 1:
        return False
    log.info("outbox job %s: retried by staff", job_id)
    kick()
    return True


def state_of(order: Order) -> str:
    """Where the order's eSIM stands: none, pending, retrying, delivered or dead."""
    row = db.session.execute(
        select(OutboxJob.state, OutboxJob.last_error).where(
            OutboxJob.order_id == order.id, OutboxJob.kind == JobKind.ISSUE_ESIM
        )
    ).first()
    if row is None:
        return "none"
    if row.state == JobState.DONE:
        return "delivered"
    if row.state == JobState.DEAD:
        return "dead"
    return "retrying" if row.last_error else "pending"


def backoff(attempt: int) -> timedelta:
    """Delay after the `attempt`-th failed attempt: base, 2 x base, 4 x base ... up to the cap."""
    base = current_app.config["OUTBOX_BACKOFF_SECONDS"]
    cap = current_app.config["OUTBOX_BACKOFF_MAX_SECONDS"]
    return timedelta(seconds=min(base * 2 ** min(max(attempt - 1, 0), 30), cap))


def is_due(now: datetime) -> Any:
    """Jobs a worker may claim at `now`: pending and due, or running on a lease that ran out."""
    return or_(
        and_(OutboxJob.state == JobState.PENDING, OutboxJob.next_attempt_at <= now),
        and_(OutboxJob.state == JobState.RUNNING, OutboxJob.lease_until < now),
    )


def _claim(limit: int) -> list[_Claim]:
    """Lease up to `limit` due jobs of kinds that have a handler, oldest due first."""
    kinds = list(HANDLERS)
    if not kinds:
        return []
    now = utcnow()
    lease_until = now + timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    claimable = and_(is_due(now), OutboxJob.kind.in_(kinds))
    query = (
        select(OutboxJob.id)
        .where(claimable)
        .order_by(OutboxJob.next_attempt_at, OutboxJob.id)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # rows another worker holds are skipped
    ids = list(db.session.scalars(query))
    if not ids:
        db.session.commit()
        return []
    # The condition is checked again in the UPDATE: on SQLite, of two workers that read the same
    # ids exactly one leases each row; on PostgreSQL the rows are already locked by us.
    won = db.session.execute(
        update(OutboxJob)
        .where(OutboxJob.id.in_(ids), claimable)
        .values(
            state=JobState.RUNNING,
            lease_until=lease_until,
            attempts=OutboxJob.attempts + 1,
            last_error=case(
                (OutboxJob.state == JobState.RUNNING, _LEASE_LOST),
                else_=OutboxJob.last_error,
            ),
        )
        .returning(OutboxJob.id, OutboxJob.attempts, OutboxJob.last_error)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    claims = [
        _Claim(row.id, row.attempts, lease_until, row.last_error == _LEASE_LOST) for row in won
    ]
    return sorted(claims, key=lambda claim: ids.index(claim.job_id))


def _run(claim: _Claim) -> None:
    job = db.session.get(OutboxJob, claim.job_id, populate_existing=True)
    if job is None:  # pragma: no cover - jobs are never deleted
        return
    if claim.reclaimed:
        log.warning("outbox job %s (%s): lease ran out, trying again", job.id, job.key)
    max_attempts = current_app.config["OUTBOX_MAX_ATTEMPTS"]
    if claim.attempt > max_attempts:
        _record_failure(claim, job.key, "lease ran out on every attempt", dead=True)
        return
    handler = HANDLERS[job.kind]
    db.session.commit()  # the handler talks to other systems outside any transaction of ours
    try:
        follow_ups = list(handler(job))
    except JobRefused as exc:
        db.session.rollback()
        _record_failure(claim, job.key, _describe(exc), dead=True)
    except Exception as exc:  # JobRetry, and any bug: retried with back-off, never lost
        db.session.rollback()
        if not isinstance(exc, JobRetry):
            log.exception("outbox job %s (%s): handler raised", claim.job_id, job.key)
        _record_failure(claim, job.key, _describe(exc), dead=claim.attempt >= max_attempts)
    else:
        _record_done(claim, job.key, follow_ups)


def _fenced(claim: _Claim) -> Any:
    return and_(
        OutboxJob.id == claim.job_id,
        OutboxJob.state == JobState.RUNNING,
        OutboxJob.attempts == claim.attempt,
        OutboxJob.lease_until == claim.lease_until,
    )


def _release(claims: list[_Claim]) -> None:
    """Give back claims that were never started (a worker stopping), as if never claimed."""
    for claim in claims:
        db.session.execute(
            update(OutboxJob)
            .where(_fenced(claim))
            .values(state=JobState.PENDING, attempts=OutboxJob.attempts - 1, lease_until=None)
        )
    db.session.commit()


def _record_done(claim: _Claim, key: str, follow_ups: list[OutboxJob]) -> None:
    """Done and its follow-ups in one transaction, with whatever the handler wrote."""
    result = db.session.execute(
        update(OutboxJob)
        .where(_fenced(claim))
        .values(state=JobState.DONE, done_at=utcnow(), lease_until=None)
    )
    if result.rowcount != 1:
        db.session.rollback()
        log.warning("outbox job %s (%s): lost its lease before finishing", claim.job_id, key)
        return
    enqueue(follow_ups)
    db.session.commit()
    log.info("outbox job %s (%s): done on attempt %s", claim.job_id, key, claim.attempt)


def _record_failure(claim: _Claim, key: str, error: str, *, dead: bool) -> None:
    values: dict[str, Any] = {"last_error": error[:_ERROR_LENGTH], "lease_until": None}
    if dead:
        values["state"] = JobState.DEAD
    else:
        values["state"] = JobState.PENDING
        values["next_attempt_at"] = utcnow() + backoff(claim.attempt)
    result = db.session.execute(update(OutboxJob).where(_fenced(claim)).values(**values))
    db.session.commit()
    if result.rowcount != 1:
        log.warning("outbox job %s (%s): lost its lease before failing", claim.job_id, key)
    elif dead:
        log.error(
            "outbox job %s (%s): dead after attempt %s: %s", claim.job_id, key, claim.attempt, error
        )
    else:
        log.warning(
            "outbox job %s (%s): attempt %s failed, next at %s: %s",
            claim.job_id,
            key,
            claim.attempt,
            values["next_attempt_at"].isoformat(timespec="seconds"),
            error,
        )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _log_unhandled() -> None:
    """Due jobs that no handler claims stay pending; say so, since only a deploy can fix it."""
    now = utcnow()
    query = select(OutboxJob.kind, func.count()).where(is_due(now)).group_by(OutboxJob.kind)
    if HANDLERS:
        query = query.where(OutboxJob.kind.not_in(list(HANDLERS)))
    for kind, count in db.session.execute(query):
        log.warning(
            "outbox: %s due %s job(s) have no handler registered; left pending", count, kind
        )
    db.session.commit()
