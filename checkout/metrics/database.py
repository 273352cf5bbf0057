"""Gauges read from the database when `/metrics` is scraped, the same whichever process answers.

What is waiting (due payments, open payments, undelivered outbox jobs), how long the oldest has
waited, when the sweep last showed life, and each gateway's circuit breaker: the database holds
the truth for every process, so these are computed per scrape rather than kept in a process.
Each is one small grouped query, reusing the questions the sweep, the outbox worker and the
breaker already ask (`sweep_scope.is_due`, `outbox.is_due`, `breaker.snapshot`), so the
numbers mean exactly what those parts act on.

A database that cannot answer costs the scrape these gauges only: `tollgate_scrape_database_up`
says 0 and everything counted in the processes is still served.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from flask import current_app
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..fulfilment import outbox
from ..fulfilment.jobs import JobKind
from ..gateways.registry import names
from ..models import JobState, OutboxJob, Payment, SweepRun, utcnow
from ..payments import breaker
from ..payments.sweep_scope import is_due, scope_for
from ..states import PaymentStatus

log = logging.getLogger(__name__)

#: not yet final: the checkout may still be paid (the funnel's open statuses)
OPEN = (PaymentStatus.CREATED, PaymentStatus.PENDING)
#: the outbox states a job is in until it is done
_WAITING = (JobState.PENDING, JobState.RUNNING, JobState.DEAD)


class DatabaseCollector:
    """A prometheus_client collector; call `collect` inside an app context."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "tollgate_scrape_database_up",
            "1 when the database answered this scrape's queries, else 0.",
        )
        families: list[Metric] = []
        try:
            families = list(self._families(utcnow()))
        except SQLAlchemyError:
            log.warning("metrics: the database did not answer", exc_info=True)
        finally:
            db.session.rollback()  # nothing of the scrape stays open in the session
        up.add_metric([], 1 if families else 0)
        yield from families
        yield up

    def _families(self, now: datetime) -> Iterator[Metric]:
        gateways = names()
        yield from _payments(now, gateways)
        yield from _outbox(now)
        yield _sweep_heartbeat()
        yield _breakers()


def _payments(now: datetime, gateways: list[str]) -> Iterator[Metric]:
    backlog = GaugeMetricFamily(
        "tollgate_sweep_backlog_payments",
        "Payments a sweep started now would look at (due by the sweep's own rule), by gateway.",
        labels=["gateway"],
    )
    oldest = GaugeMetricFamily(
        "tollgate_payment_oldest_pending_age_seconds",
        "Age of the oldest payment still CREATED or PENDING, by gateway (0: none open).",
        labels=["gateway"],
    )
    scope = scope_for(current_app._get_current_object(), None, None, now)
    due = dict(
        db.session.execute(
            select(Payment.gateway, func.count()).where(is_due(scope)).group_by(Payment.gateway)
        ).all()
    )
    created = dict(
        db.session.execute(
            select(Payment.gateway, func.min(Payment.created_at))
            .where(Payment.status.in_(OPEN))
            .group_by(Payment.gateway)
        ).all()
    )
    for gateway in sorted({*gateways, *due, *created}):
        backlog.add_metric([gateway], due.get(gateway, 0))
        first = created.get(gateway)
        oldest.add_metric([gateway], (now - first).total_seconds() if first else 0.0)
    yield backlog
    yield oldest


def _outbox(now: datetime) -> Iterator[Metric]:
    jobs = GaugeMetricFamily(
        "tollgate_outbox_jobs",
        "Outbox jobs not done, by kind and state (pending, running, dead).",
        labels=["kind", "state"],
    )
    counts = {
        (kind, state): count
        for kind, state, count in db.session.execute(
            select(OutboxJob.kind, OutboxJob.state, func.count())
            .where(OutboxJob.state != JobState.DONE)
            .group_by(OutboxJob.kind, OutboxJob.state)
        )
    }
    # every known kind and state, 0 when empty, so a graph or an alert never sees a gap
    shown = {(str(kind), state) for kind in JobKind for state in _WAITING} | set(counts)
    for kind, state in sorted(shown):
        jobs.add_metric([kind, state], counts.get((kind, state), 0))
    yield jobs
    oldest_due = db.session.scalar(
        select(func.min(OutboxJob.next_attempt_at)).where(outbox.is_due(now))
    )
    yield GaugeMetricFamily(
        "tollgate_outbox_delivery_lag_seconds",
        "How long the oldest job a worker could claim now has been due (0: none waiting).",
        value=(now - oldest_due).total_seconds() if oldest_due else 0.0,
    )


def _sweep_heartbeat() -> Metric:
    """The newest run's last sign of life: its start, its progress heartbeat or its end."""
    newest = db.session.execute(
        select(SweepRun.started_at, SweepRun.finished_at, SweepRun.details)
        .order_by(SweepRun.id.desc())
        .limit(1)
    ).first()
    seen = 0.0
    if newest is not None:
        heartbeat = (newest.details or {}).get("heartbeat")
        moments = [newest.started_at, newest.finished_at]
        if heartbeat:
            moments.append(datetime.fromisoformat(heartbeat))
        seen = max(moment.timestamp() for moment in moments if moment is not None)
    return GaugeMetricFamily(
        "tollgate_sweep_heartbeat_timestamp_seconds",
        "Unix time of the newest sweep run's last sign of life (start, progress or end).",
        value=seen,
    )


def _breakers() -> Metric:
    family = GaugeMetricFamily(
        "tollgate_gateway_breaker_state",
        "1 for the state each gateway's checkout circuit breaker is in, 0 for the others.",
        labels=["gateway", "state"],
    )
    for gateway, state in breaker.snapshot().items():
        for candidate in breaker.Shown:
            family.add_metric([gateway, str(candidate)], 1 if candidate == state else 0)
    return family
