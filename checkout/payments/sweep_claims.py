"""How a sweep run claims pages of due payments, so concurrent sweepers never poll one twice.

Several sweepers can run at once (two app processes, the scheduler and the cron URL). Each run
takes a lease on the payments it is about to poll, tagged with its owner id, and lets go of a
page as soon as that page is done; a crashed run's leases simply run out.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta

from flask import Flask
from sqlalchemy import or_, select, update

from ..extensions import db
from ..models import Payment, utcnow
from .sweep_scope import Scope, is_due


def owner_id() -> str:
    """Host, process, thread and a random part: unique per run, and readable in the database."""
    return (
        f"{socket.gethostname()[:30]}:{os.getpid()}:{threading.get_ident() % 10000}:"
        + (uuid.uuid4().hex[:8])
    )


def claimed_pages(app: Flask, scope: Scope, owner: str, gateway_name: str) -> Iterator[list[int]]:
    """Yield pages of one gateway's payment ids that `owner` has claimed, in id order."""
    page_size = app.config["SWEEP_PAGE_SIZE"]
    lease = timedelta(seconds=app.config["SWEEP_LEASE_SECONDS"])
    postgres = db.engine.dialect.name == "postgresql"
    last_id = 0
    while True:
        lease_now = utcnow()
        free = or_(Payment.claimed_until.is_(None), Payment.claimed_until < lease_now)
        query = (
            select(Payment.id)
            .where(is_due(scope), Payment.gateway == gateway_name, free, Payment.id > last_id)
            .order_by(Payment.id)
            .limit(page_size)
        )
        claim = {"claimed_until": lease_now + lease, "claimed_by": owner}
        if postgres:
            # rows another sweeper holds are skipped, not waited for
            rows = db.session.execute(query.with_for_update(skip_locked=True)).all()
            ids = [row.id for row in rows]
            if ids:
                db.session.execute(update(Payment).where(Payment.id.in_(ids)).values(**claim))
            db.session.commit()
            won = rows
        else:
            rows = db.session.execute(query).all()
            ids = [row.id for row in rows]
            if ids:
                # re-checked in the UPDATE itself: SQLite serialises writers, so of two sweepers
                # reading the same page exactly one sets each lease
                db.session.execute(
                    update(Payment).where(Payment.id.in_(ids), is_due(scope), free).values(**claim)
                )
            db.session.commit()
            mine = set(
                db.session.scalars(
                    select(Payment.id).where(Payment.id.in_(ids), Payment.claimed_by == owner)
                )
            )
            won = [row for row in rows if row.id in mine]
        if not rows:
            return
        last_id = rows[-1].id
        if won:
            yield [row.id for row in won]


def release(owner: str, ids: Sequence[int] | None) -> None:
    """Let go of `owner`'s claims on `ids`, or on everything it still holds when `ids` is None."""
    query = update(Payment).where(Payment.claimed_by == owner)
    if ids is not None:
        query = query.where(Payment.id.in_(ids))
    db.session.execute(query.values(claimed_until=None, claimed_by=None))
    db.session.commit()
