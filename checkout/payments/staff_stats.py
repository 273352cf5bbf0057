"""The staff dashboard's numbers, aggregated in SQL (GROUP BY, window functions, percentile).

Each function sends one statement and gets back one row per day, gateway, status or currency,
never one per payment: the dashboard must answer in well under 300 ms over 100,000 payments
(bench/dashboard.py measures it). Days are UTC calendar days. PostgreSQL and SQLite differ in how
they name a day and a duration, so those two expressions are chosen per dialect; the median time
to paid uses `percentile_cont` on PostgreSQL and a row_number() window on SQLite (no rows are
brought into Python to sort).

Gateway latency is not measured: no table stores how long a gateway call took, so the dashboard
says so instead of showing a number. The error rate is the share of a gateway's recorded answers
(timeline events written by look-ups, returns and notifications) that were errors; look-ups that
changed nothing leave no event, so the rate is an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, Integer, and_, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from ..extensions import db
from ..models import Payment, PaymentEvent, SweepRun, utcnow
from ..states import PaymentStatus

PAID = (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED)
OPEN = (PaymentStatus.CREATED, PaymentStatus.PENDING)
#: event kinds that are a gateway's answer (notes, resolutions and flags are ours)
ANSWER_KINDS = ("transition", "refused", "error")
RECENT_RUNS = 10


class Period(StrEnum):
    TODAY = "today"
    WEEK = "7d"
    MONTH = "30d"

    @property
    def days(self) -> int:
        return {"today": 1, "7d": 7, "30d": 30}[self.value]

    @property
    def label(self) -> str:
        return {"today": "Today", "7d": "7 days", "30d": "30 days"}[self.value]


@dataclass(frozen=True)
class Window:
    """The UTC days a period covers, oldest first, and the instant it starts."""

    days: list[date]
    start: datetime

    @classmethod
    def of(cls, period: Period, now: datetime | None = None) -> Window:
        today = (now or utcnow()).astimezone(UTC).date()
        days = [today - timedelta(days=n) for n in range(period.days - 1, -1, -1)]
        return cls(days, datetime.combine(days[0], time.min, tzinfo=UTC))


@dataclass(frozen=True)
class GatewayConversion:
    gateway: str
    opened: int
    paid: int

    @property
    def percent(self) -> int:
        """Whole percent, rounded half up in integers (no float for a shown figure)."""
        return (200 * self.paid + self.opened) // (2 * self.opened) if self.opened else 0


@dataclass(frozen=True)
class GatewayErrors:
    day: date
    gateway: str
    errors: int
    answers: int


@dataclass(frozen=True)
class RunRow:
    started_at: datetime
    trigger: str
    checked: int
    changed: int
    errors: int
    seconds: int | None  # None while it runs


@dataclass(frozen=True)
class Oldest:
    ref: str
    gateway: str
    status: str
    created_at: datetime


def _is_pg() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _day(column: Any) -> ColumnElement[Any]:
    """The column's UTC day: a date on PostgreSQL (a cast is far cheaper per row than
    formatting text), 'YYYY-MM-DD' text on SQLite."""
    if _is_pg():
        return cast(func.timezone("UTC", column), Date)
    return func.strftime("%Y-%m-%d", column)


def _seconds(later: Any, earlier: Any) -> ColumnElement[Any]:
    if _is_pg():
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def payments_per_day(window: Window) -> dict[tuple[date, str], int]:
    """Payments started each day, by their status now ((day, status) -> count)."""
    day = _day(Payment.created_at).label("day")
    rows = db.session.execute(
        select(day, Payment.status, func.count())
        .where(Payment.created_at >= window.start)
        .group_by(day, Payment.status)
    )
    return {(_as_date(d), str(s)): n for d, s, n in rows}


def conversion(window: Window) -> list[GatewayConversion]:
    """Per gateway: payments started in the period, and how many of them were paid."""
    paid = func.sum(cast(Payment.completed_at.is_not(None), Integer))
    rows = db.session.execute(
        select(Payment.gateway, func.count(), paid)
        .where(Payment.created_at >= window.start)
        .group_by(Payment.gateway)
        .order_by(Payment.gateway)
    )
    return [GatewayConversion(g, n, int(p or 0)) for g, n, p in rows]


def revenue_per_day(window: Window) -> dict[tuple[date, str], int]:
    """Minor units paid each day per currency, by the day the money arrived."""
    day = _day(Payment.completed_at).label("day")
    rows = db.session.execute(
        select(day, Payment.currency, func.sum(Payment.amount))
        .where(Payment.completed_at >= window.start)
        .group_by(day, Payment.currency)
    )
    return {(_as_date(d), c): int(total) for d, c, total in rows}


def median_seconds_to_paid(window: Window) -> dict[str, int]:
    """Per gateway, the median seconds from start to paid of payments paid in the period."""
    seconds = _seconds(Payment.completed_at, Payment.created_at)
    paid_in_period = Payment.completed_at >= window.start
    if _is_pg():
        median = func.percentile_cont(0.5).within_group(seconds)
        rows = db.session.execute(
            select(Payment.gateway, median).where(paid_in_period).group_by(Payment.gateway)
        )
    else:
        ranked = (
            select(
                Payment.gateway.label("gateway"),
                seconds.label("secs"),
                func.row_number().over(partition_by=Payment.gateway, order_by=seconds).label("rn"),
                func.count().over(partition_by=Payment.gateway).label("cnt"),
            )
            .where(paid_in_period)
            .subquery()
        )
        middle = ranked.c.rn.in_([(ranked.c.cnt + 1) // 2, (ranked.c.cnt + 2) // 2])
        rows = db.session.execute(
            select(ranked.c.gateway, func.avg(ranked.c.secs))
            .where(middle)
            .group_by(ranked.c.gateway)
        )
    return {g: round(value) for g, value in rows if value is not None}


def errors_per_day(window: Window) -> list[GatewayErrors]:
    """Per day and gateway: error events, and all the gateway answers recorded that day."""
    day = _day(PaymentEvent.created_at).label("day")
    errors = func.sum(cast(PaymentEvent.kind == "error", Integer))
    rows = db.session.execute(
        select(day, Payment.gateway, errors, func.count())
        .join(Payment, Payment.id == PaymentEvent.payment_id)
        .where(PaymentEvent.created_at >= window.start, PaymentEvent.kind.in_(ANSWER_KINDS))
        .group_by(day, Payment.gateway)
        .order_by(day, Payment.gateway)
    )
    return [GatewayErrors(_as_date(d), g, int(e or 0), n) for d, g, e, n in rows]


def late_and_flagged(window: Window) -> tuple[int, int]:
    """Late payments paid in the period, and every payment waiting for review now."""
    late = func.sum(
        case((and_(Payment.late.is_(True), Payment.completed_at >= window.start), 1), else_=0)
    )
    flagged = func.sum(case((Payment.needs_review.is_(True), 1), else_=0))
    row = db.session.execute(
        select(late, flagged).where(
            (Payment.needs_review.is_(True)) | (Payment.completed_at >= window.start)
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def recent_runs(limit: int = RECENT_RUNS) -> list[RunRow]:
    """The sweep's last runs, newest first, with how long each took."""
    runs = db.session.execute(
        select(
            SweepRun.started_at,
            SweepRun.trigger,
            SweepRun.checked,
            SweepRun.changed,
            SweepRun.errors,
            SweepRun.finished_at,
        )
        .order_by(SweepRun.id.desc())
        .limit(limit)
    )
    return [
        RunRow(s, t, c, ch, e, None if f is None else int((f - s).total_seconds()))
        for s, t, c, ch, e, f in runs
    ]


def oldest_open() -> Oldest | None:
    """The payment that has waited longest without a final status."""
    row = db.session.execute(
        select(Payment.ref, Payment.gateway, Payment.status, Payment.created_at)
        .where(Payment.status.in_(OPEN))
        .order_by(Payment.created_at, Payment.id)
        .limit(1)
    ).first()
    return None if row is None else Oldest(row[0], row[1], str(row[2]), row[3])
