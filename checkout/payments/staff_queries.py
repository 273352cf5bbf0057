"""The staff payments list as SQL: filters, keyset pages, counts per status, the CSV's rows.

Filters arrive as the list's GET form (so a filtered list is a URL staff can share) and are read
here into a `PaymentFilter`, refusing what cannot be compared exactly: an amount without a
currency (minor units differ per currency), an amount with more decimals than the currency has,
a date range that ends before it starts. Pages are keyset pages on (created_at, id) or
(amount, id): page 500 costs what page 1 costs, and a payment arriving while staff page through
does not shift the rows under them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, tuple_

from ..extensions import db
from ..models import Order, Payment
from ..money import MoneyError, to_minor
from ..states import PaymentStatus

log = logging.getLogger(__name__)

PAGE_SIZE = 50
#: How many rows the CSV export fetches from the server-side cursor at a time.
STREAM_CHUNK = 1000
#: The list's sort orders: the sort key column and whether it runs high to low.
SORTS: dict[str, tuple[str, bool]] = {
    "newest": ("created_at", True),
    "oldest": ("created_at", False),
    "amount_desc": ("amount", True),
    "amount_asc": ("amount", False),
}
SORT_WORDS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "amount_desc": "Amount, high to low",
    "amount_asc": "Amount, low to high",
}
#: The filter form's field names, the only query arguments a filter is read from.
FIELDS = ("q", "status", "gateway", "review", "late", "refunded", "from", "to", "currency")
FIELDS += ("min", "max", "sort")
MAX_TEXT = 254


class FilterError(ValueError):
    """The filter form holds something that cannot be applied; `messages` say what, in words."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class PaymentFilter:
    """What staff asked for; every field left empty matches every payment."""

    status: str | None = None
    gateway: str | None = None
    review: bool = False  # flagged for review
    late: bool = False  # completed after it had ended
    refunded: bool = False  # any money refunded
    created_from: date | None = None  # UTC day, inclusive
    created_to: date | None = None  # UTC day, inclusive
    currency: str | None = None
    amount_min: int | None = None  # minor units of `currency`
    amount_max: int | None = None
    text: str | None = None
    sort: str = "newest"
    args: dict[str, str] = field(default_factory=dict)  # the form's fields as given, for links


@dataclass(frozen=True)
class Page:
    """One keyset page, with the cursors of the pages around it (None at either end)."""

    payments: list[Payment]
    next_cursor: str | None
    previous_cursor: str | None


def read_filter(args: Mapping[str, str], gateways: Sequence[str]) -> PaymentFilter:
    """The list's GET form as a filter, or FilterError listing every field that is wrong."""
    errors: list[str] = []
    kept = {k: args.get(k, "").strip() for k in FIELDS if args.get(k, "").strip()}
    status = kept.get("status")
    if status is not None and status not in {s.value for s in PaymentStatus}:
        errors.append(f"Status: no status is called {status[:40]!r}.")
    gateway = kept.get("gateway")
    if gateway is not None and gateway not in gateways:
        errors.append(f"Gateway: {gateway[:40]!r} is not a configured gateway.")
    sort = kept.get("sort", "newest")
    if sort not in SORTS:
        errors.append("Sort: choose one of the offered orders.")
        sort = "newest"
    currency = kept.get("currency", "").upper() or None
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        errors.append("Currency: a three-letter code such as EUR.")
        currency = None
    created_from = _day(kept.get("from"), "Created from", errors)
    created_to = _day(kept.get("to"), "Created to", errors)
    if created_from and created_to and created_to < created_from:
        errors.append("Created: the range ends before it starts.")
    amount_min = _amount(kept.get("min"), currency, "Amount from", errors)
    amount_max = _amount(kept.get("max"), currency, "Amount to", errors)
    if amount_min is not None and amount_max is not None and amount_max < amount_min:
        errors.append("Amount: the range ends below where it starts.")
    text = kept.get("q")
    if text is not None and len(text) > MAX_TEXT:
        errors.append(f"Search: at most {MAX_TEXT} characters.")
    if errors:
        raise FilterError(errors)
    return PaymentFilter(
        status=status,
        gateway=gateway,
        review=kept.get("review") == "1",
        late=kept.get("late") == "1",
        refunded=kept.get("refunded") == "1",
        created_from=created_from,
        created_to=created_to,
        currency=currency,
        amount_min=amount_min,
        amount_max=amount_max,
        text=text,
        sort=sort,
        args=kept,
    )


def _day(raw: str | None, label: str, errors: list[str]) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(f"{label}: a date as YYYY-MM-DD.")
        return None


def _amount(raw: str | None, currency: str | None, label: str, errors: list[str]) -> int | None:
    if raw is None:
        return None
    if currency is None:
        errors.append(
            f"{label}: choose a currency too; amounts are compared in one currency's units."
        )
        return None
    try:
        return to_minor(raw, currency)
    except MoneyError as exc:
        errors.append(f"{label}: {exc}.")
        return None


def filtered(wanted: PaymentFilter, *, with_status: bool = True) -> Select[Any]:
    """SELECT payments (joined to their order) matching every filter but the sort."""
    statement = select(Payment).join(Order, Payment.order_id == Order.id)
    return statement.where(*_conditions(wanted, with_status=with_status))


def _conditions(wanted: PaymentFilter, *, with_status: bool) -> list[Any]:
    where: list[Any] = []
    if with_status and wanted.status:
        where.append(Payment.status == wanted.status)
    if wanted.gateway:
        where.append(Payment.gateway == wanted.gateway)
    if wanted.review:
        where.append(Payment.needs_review.is_(True))
    if wanted.late:
        where.append(Payment.late.is_(True))
    if wanted.refunded:
        where.append(Payment.refunded_amount > 0)
    if wanted.created_from:
        where.append(Payment.created_at >= _midnight(wanted.created_from))
    if wanted.created_to:
        where.append(Payment.created_at < _midnight(wanted.created_to + timedelta(days=1)))
    if wanted.currency:
        where.append(Payment.currency == wanted.currency)
    if wanted.amount_min is not None:
        where.append(Payment.amount >= wanted.amount_min)
    if wanted.amount_max is not None:
        where.append(Payment.amount <= wanted.amount_max)
    if wanted.text:
        pattern = "%" + _escape_like(wanted.text.lower()) + "%"
        columns = (Payment.ref, Order.ref, Payment.gateway_reference, Order.email)
        where.append(or_(*(func.lower(c).like(pattern, escape="\\") for c in columns)))
    return where


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _escape_like(text: str) -> str:
    """`text` taken literally by LIKE: its own %, _ and the escape character escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _key_column(sort: str) -> Any:
    return getattr(Payment, SORTS[sort][0])


def _ordered(statement: Select[Any], sort: str, *, reverse: bool = False) -> Select[Any]:
    column = _key_column(sort)
    descending = SORTS[sort][1] != reverse
    if descending:
        return statement.order_by(column.desc(), Payment.id.desc())
    return statement.order_by(column.asc(), Payment.id.asc())


def page(
    wanted: PaymentFilter,
    after: str | None = None,
    before: str | None = None,
    size: int | None = None,
) -> Page:
    """The page after cursor `after`, before cursor `before`, or the first one.

    Raises FilterError for a cursor that is not one of ours (hand-edited URL).
    """
    size = size or PAGE_SIZE
    statement = filtered(wanted)
    backwards = before is not None
    cursor = before if backwards else after
    if cursor is not None:
        statement = statement.where(
            _beyond(wanted.sort, _read_cursor(wanted.sort, cursor), backwards)
        )
    rows = list(
        db.session.scalars(_ordered(statement, wanted.sort, reverse=backwards).limit(size + 1))
    )
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    first, last = (
        (_cursor(wanted.sort, rows[0]), _cursor(wanted.sort, rows[-1])) if rows else (None, None)
    )
    if backwards:
        return Page(rows, last if rows else before, first if more else None)
    return Page(rows, last if more else None, first if cursor is not None and rows else None)


def _beyond(sort: str, key: tuple[Any, int], backwards: bool) -> Any:
    """Rows after `key` in the sort's direction (before it when going backwards)."""
    value, row_id = key
    # A row-value comparison, so the (key, id) index serves it as one range: page 500 reads
    # what page 1 reads.
    here, there = tuple_(_key_column(sort), Payment.id), tuple_(value, row_id)
    later = SORTS[sort][1] == backwards  # ascending order going forwards, or descending back
    return here > there if later else here < there


def _cursor(sort: str, payment: Payment) -> str:
    value = getattr(payment, SORTS[sort][0])
    text = value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value)
    return f"{text}~{payment.id}"


def _read_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    value, _, row_id = cursor.rpartition("~")
    try:
        key: Any
        if SORTS[sort][0] == "created_at":
            key = datetime.fromisoformat(value)
            if key.tzinfo is None:
                raise ValueError("naive")
        else:
            key = int(value)
        return key, int(row_id)
    except ValueError as exc:
        raise FilterError(["That page link is broken; start again from the first page."]) from exc


def counts(wanted: PaymentFilter) -> dict[str, int]:
    """How many payments of each status match every filter but the status, in one GROUP BY.

    The status filter is left out so the status tabs show what choosing each would give.
    """
    statement = (
        select(Payment.status, func.count())
        .join(Order, Payment.order_id == Order.id)
        .where(*_conditions(wanted, with_status=False))
        .group_by(Payment.status)
    )
    return {status: number for status, number in db.session.execute(statement)}


@dataclass(frozen=True)
class ExportRow:
    """One CSV line's facts, read as plain columns (no ORM objects pile up in the session)."""

    ref: str
    order_ref: str
    email: str
    gateway: str
    status: str
    amount: int
    currency: str
    refunded_amount: int
    needs_review: bool
    late: bool
    gateway_reference: str | None
    created_at: datetime
    completed_at: datetime | None


def export_rows(wanted: PaymentFilter) -> Iterator[ExportRow]:
    """Every matching payment in the list's order, fetched STREAM_CHUNK rows at a time.

    `yield_per` streams from a server-side cursor on PostgreSQL, so an export of 100,000 rows
    holds one chunk in memory, never the whole result.
    """
    statement = _ordered(
        select(
            Payment.ref,
            Order.ref,
            Order.email,
            Payment.gateway,
            Payment.status,
            Payment.amount,
            Payment.currency,
            Payment.refunded_amount,
            Payment.needs_review,
            Payment.late,
            Payment.gateway_reference,
            Payment.created_at,
            Payment.completed_at,
        )
        .join(Order, Payment.order_id == Order.id)
        .where(*_conditions(wanted, with_status=True)),
        wanted.sort,
    )
    result = db.session.execute(statement.execution_options(yield_per=STREAM_CHUNK))
    for row in result:
        yield ExportRow(*row)
