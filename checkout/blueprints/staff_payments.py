"""Staff pages over many payments: the filtered list, its CSV export, and the sweep runs.

The list's filters are a GET form, so a filtered list is a URL staff can bookmark or paste into
a ticket; "Export CSV" sends the same query string to /staff/payments.csv, which streams exactly
the rows the list would page through.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from typing import Any

from flask import Response, render_template, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..gateways import registry
from ..models import AuditEntry, Product, SweepRun
from ..money import to_decimal_str
from ..payments import staff_queries as queries
from ..states import PaymentStatus
from .staff import bp
from .staff_audit import record
from .staff_nav import status_words

log = logging.getLogger(__name__)

SWEEP_RUNS = 100
#: Most audit entries the payment page lists (a payment with more has a story for /staff/audit).
ACTIONS_SHOWN = 100
CSV_HEADER = (
    "payment_ref",
    "order_ref",
    "email",
    "gateway",
    "status",
    "amount",
    "currency",
    "refunded",
    "needs_review",
    "late",
    "gateway_reference",
    "created_at_utc",
    "completed_at_utc",
)


@bp.get("/payments")
def payments() -> tuple[str, int]:
    gateways = registry.names()
    try:
        wanted = queries.read_filter(request.args, gateways)
        found = queries.page(wanted, request.args.get("after"), request.args.get("before"))
    except queries.FilterError as exc:
        return _list_page(queries.PaymentFilter(args=_given()), None, {}, exc.messages), 400
    return _list_page(wanted, found, queries.counts(wanted), []), 200


@bp.get("/payments.csv")
def payments_csv() -> Response:
    try:
        wanted = queries.read_filter(request.args, registry.names())
    except queries.FilterError as exc:
        return Response("\n".join(exc.messages) + "\n", 400, mimetype="text/plain")
    log.info("staff %s exported payments (%s)", current_user.email, wanted.args)
    record("export", "payments.csv", filters=wanted.args)
    response = Response(stream_with_context(_csv_lines(wanted)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="payments.csv"'
    return response


@bp.get("/sweeps")
def sweeps() -> str:
    """The newest sweep runs: when, what started them, what they found, how long they took."""
    runs = list(db.session.scalars(select(SweepRun).order_by(SweepRun.id.desc()).limit(SWEEP_RUNS)))
    return render_template("staff/sweeps.html", runs=runs, capped=len(runs) == SWEEP_RUNS)


@bp.app_template_global("staff_actions_on")
def actions_on(ref: str) -> list[AuditEntry]:
    """The audit log's entries about payment `ref`, newest first, for its page."""
    statement = (
        select(AuditEntry)
        .where(AuditEntry.target == ref)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(ACTIONS_SHOWN)
    )
    return list(db.session.scalars(statement))


def _given() -> dict[str, str]:
    """The filter form's fields as typed, so a refused filter comes back to be corrected."""
    return {k: v for k, v in request.args.items() if k in queries.FIELDS and v.strip()}


def _list_page(
    wanted: queries.PaymentFilter,
    found: queries.Page | None,
    by_status: dict[str, int],
    errors: list[str],
) -> str:
    args = wanted.args
    return render_template(
        "staff/payments.html",
        args=args,
        errors=errors,
        payments=found.payments if found else [],
        next_url=_url(args, after=found.next_cursor) if found and found.next_cursor else None,
        previous_url=(
            _url(args, before=found.previous_cursor) if found and found.previous_cursor else None
        ),
        csv_url=url_for("staff.payments_csv", **args),
        statuses=[(s.value, status_words(s), by_status.get(s.value, 0)) for s in PaymentStatus],
        total=sum(by_status.values()),
        status_url=lambda status: _url({**args, "status": status} if status else _without(args)),
        gateways=[(p.name, p.label) for p in registry.plugins()],
        currencies=_currencies(args.get("currency", "").upper()),
        sorts=queries.SORT_WORDS,
    )


def _url(args: dict[str, str], **cursor: str | None) -> str:
    return url_for("staff.payments", **args, **{k: v for k, v in cursor.items() if v})


def _without(args: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in args.items() if k != "status"}


def _currencies(chosen: str) -> list[str]:
    """The catalogue's currencies (payments copy them), plus one chosen in a pasted URL."""
    known = set(db.session.scalars(select(Product.currency).distinct()))
    return sorted(known | ({chosen} if chosen else set()))


def _csv_lines(wanted: queries.PaymentFilter) -> Iterator[str]:
    """The CSV one line at a time: nothing but the current chunk of rows is held."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: tuple[Any, ...]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(v) for v in values])
        return buffer.getvalue()

    yield line(CSV_HEADER)
    for row in queries.export_rows(wanted):
        yield line(
            (
                row.ref,
                row.order_ref,
                row.email,
                row.gateway,
                row.status,
                to_decimal_str(row.amount, row.currency),
                row.currency,
                to_decimal_str(row.refunded_amount or 0, row.currency),
                "yes" if row.needs_review else "no",
                "yes" if row.late else "no",
                row.gateway_reference or "",
                row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                row.completed_at.strftime("%Y-%m-%d %H:%M:%S") if row.completed_at else "",
            )
        )


def _cell(value: object) -> str:
    """A cell a spreadsheet shows as text: a leading =, +, -, @ would run as a formula."""
    text = str(value)
    if text and text[0] in "=+-@\t\r" and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    return text.lstrip("-").replace(".", "", 1).isdigit()
