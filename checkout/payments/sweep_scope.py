"""Which payments a sweep run looks at, decided once per run against one moment.

The due condition is shared by everything that asks "what would a sweep do now": the run itself
(`claimed_pages` filters each page by it), the CLI's progress bar (`count_due`) and the dry run,
so all three always agree on the same payments.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import ColumnElement, and_, func, or_, select

from ..extensions import db
from ..gateways.registry import plugins
from ..models import Payment, SweepRun, utcnow
from .states import PaymentStatus

#: a CREATED payment younger than this may still be waiting for its gateway's answer
CREATED_GRACE = timedelta(minutes=1)


@dataclass(frozen=True)
class Scope:
    """Which payments a run looks at, and the moment it decides against."""

    now: datetime
    window_start: datetime  # payments created since then get a normal check
    stale_before: datetime  # still open and created before this: last check, then EXPIRED
    grace: timedelta
    gateway: str | None


def count_due(*, hours: int | None = None, gateway: str | None = None) -> int:
    """How many payments a run started now would look at (the CLI's progress bar length)."""
    scope = scope_for(current_app._get_current_object(), hours, gateway, utcnow())
    return db.session.scalar(select(func.count(Payment.id)).where(is_due(scope))) or 0


def scope_for(app: Flask, hours: int | None, gateway: str | None, now: datetime) -> Scope:
    """The run's window: `hours` may narrow or widen it, but never below the configured one for
    deciding which payments are stale, so a narrowed run does not expire payments early."""
    configured = timedelta(hours=app.config["SWEEP_WINDOW_HOURS"])
    window = timedelta(hours=hours) if hours is not None else configured
    return Scope(
        now=now,
        window_start=now - window,
        stale_before=now - max(window, configured),
        grace=timedelta(seconds=app.config["SWEEP_GRACE_SECONDS"]),
        gateway=gateway,
    )


def is_due(scope: Scope) -> ColumnElement[bool]:
    """Open (or expired where late money can still come), in scope, and its next check has come.

    An EXPIRED payment of a gateway whose money can arrive late (crypto), or one whose last
    answer said money may still come (a card payment expired mid 3-D Secure, a debit still
    processing: `Gateway.money_may_still_come`), stays due within the window, at the slow pace
    the funnel schedules for old payments: if the gateway's notification about the money is
    lost, the sweep still finds it. Past the window it is left alone.
    """
    conditions: list[ColumnElement[bool]] = [
        or_(
            Payment.status == PaymentStatus.PENDING,
            and_(
                Payment.status == PaymentStatus.CREATED,
                Payment.created_at <= scope.now - CREATED_GRACE,
            ),
            and_(
                Payment.status == PaymentStatus.EXPIRED,
                or_(Payment.gateway.in_(_late_money_gateways()), money_may_still_come()),
                Payment.created_at >= scope.stale_before,
            ),
        ),
        or_(Payment.next_check_at.is_(None), Payment.next_check_at <= scope.now),
    ]
    if scope.window_start > scope.stale_before:
        # a narrowed run leaves the payments between its window and the configured one alone
        conditions.append(
            or_(Payment.created_at >= scope.window_start, Payment.created_at < scope.stale_before)
        )
    if scope.gateway:
        conditions.append(Payment.gateway == scope.gateway)
    return and_(*conditions)


def money_may_still_come() -> ColumnElement[bool]:
    """The expiry (or a later look) recorded that money may still come for this payment."""
    return Payment.gateway_data["late_money"].as_boolean().is_(True)


def window_hours(scope: Scope) -> float:
    """The window a run actually used, for its recorded details."""
    return round((scope.now - scope.window_start).total_seconds() / 3600, 2)


def dry_run_record(trigger: str, scope: Scope) -> SweepRun:
    """Count what a run would do, without claims, gateway calls or writes."""
    per_gateway: dict[str, dict[str, int]] = defaultdict(
        lambda: {"due": 0, "orphans": 0, "past_deadline": 0, "leaving_window": 0}
    )
    last_id = 0
    page_size = current_app.config["SWEEP_PAGE_SIZE"]
    while True:
        rows = db.session.execute(
            select(
                Payment.id,
                Payment.gateway,
                Payment.gateway_reference,
                Payment.expires_at,
                Payment.created_at,
            )
            .where(is_due(scope), Payment.id > last_id)
            .order_by(Payment.id)
            .limit(page_size)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        for row in rows:
            counts = per_gateway[row.gateway]
            counts["due"] += 1
            if not row.gateway_reference:
                counts["orphans"] += 1
            elif row.expires_at is not None and scope.now > row.expires_at + scope.grace:
                counts["past_deadline"] += 1
            elif row.created_at < scope.stale_before:
                counts["leaving_window"] += 1
    db.session.rollback()
    due = sum(c["due"] for c in per_gateway.values())
    now = utcnow()
    return SweepRun(
        trigger=trigger[:16],
        started_at=now,
        finished_at=now,
        checked=0,
        changed=0,
        expired=0,
        errors=0,
        gateway_calls=0,
        details={
            "dry_run": True,
            "due": due,
            "window_hours": window_hours(scope),
            "gateway": scope.gateway,
            "gateways": dict(sorted(per_gateway.items())),
        },
    )


def _late_money_gateways() -> list[str]:
    """The configured gateways whose money can always arrive late (crypto)."""
    return [p.name for p in plugins() if p.gateway.late_money]
