"""`/staff/audit`: the audit log, newest first, with filters that stay in the URL.

Admins only: the log names every colleague's logins and addresses and the accounts an admin
changed, which support staff do not need to do their work (a payment's own page shows the staff
actions on it). Filters: who (part of the e-mail), action (exact), target (part of a payment ref
or e-mail), from and to dates (UTC days, both included). Pages are keyset on the id (`before`),
so an old page costs what the first does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import render_template, request
from sqlalchemy import Select, func, select

from ..extensions import db
from ..models import AuditEntry, StaffRole
from .staff import bp
from .staff_common import requires

PAGE_SIZE = 50
ACTIONS = (
    "login",
    "login_failed",
    "login_locked",
    "logout",
    "refresh",
    "job_retry",
    "refund",
    "manual_refund",
    "note",
    "resolve",
    "user_add",
    "user_role",
    "user_deactivate",
    "user_reactivate",
    "gateway_force",
)


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def _filters() -> dict[str, Any]:
    args = request.args
    return {
        "who": args.get("who", "").strip()[:254],
        "action": args.get("action", "").strip()[:32],
        "target": args.get("target", "").strip()[:254],
        "since": _day(args.get("from", "")),
        "until": _day(args.get("to", "")),
    }


def filtered(filters: dict[str, Any]) -> Select[tuple[AuditEntry]]:
    """The entries matching `filters`, as SQL (a LIKE on lower-cased text, a range on `at`)."""
    statement = select(AuditEntry)
    if filters["who"]:
        statement = statement.where(
            func.lower(AuditEntry.staff_email).contains(filters["who"].lower(), autoescape=True)
        )
    if filters["action"]:
        statement = statement.where(AuditEntry.action == filters["action"])
    if filters["target"]:
        statement = statement.where(
            func.lower(AuditEntry.target).contains(filters["target"].lower(), autoescape=True)
        )
    if filters["since"] is not None:
        start = datetime.combine(filters["since"], time.min, tzinfo=UTC)
        statement = statement.where(AuditEntry.at >= start)
    if filters["until"] is not None:
        end = datetime.combine(filters["until"] + timedelta(days=1), time.min, tzinfo=UTC)
        statement = statement.where(AuditEntry.at < end)
    return statement


@bp.get("/audit")
@requires(StaffRole.ADMIN)
def audit() -> str:
    filters = _filters()
    statement = filtered(filters).order_by(AuditEntry.id.desc()).limit(PAGE_SIZE + 1)
    before = request.args.get("before", type=int)
    if before is not None:
        statement = statement.where(AuditEntry.id < before)
    entries = list(db.session.scalars(statement))
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    kept = {k: v for k, v in request.args.items() if k in ("who", "action", "target", "from", "to")}
    older = {**kept, "before": entries[-1].id} if more else None
    return render_template(
        "staff/audit.html",
        entries=entries,
        filters=filters,
        args=kept,
        actions=ACTIONS,
        older=older,
        first_page=before is None,
    )
