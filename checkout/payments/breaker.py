"""The gateway circuit breaker on the checkout selector, shared by every worker.

A gateway whose checkout creates keep failing in transit is taken off the selector for a while,
so shoppers pick another method instead of meeting the same error; after a cool-down one probe
create is let through (half-open), and its outcome closes the breaker or opens it again.

Only checkout creates are counted and only the checkout is gated: notifications, the shopper's
return, refreshes, the sweep and refunds never ask the breaker. What counts (`result_of`): a
GatewayUnavailable (timeout, refused connection, 5xx, an answer that is not JSON) is a failure;
a created checkout is a success; a rejection (the gateway answered "bad request"), a config
error (our credentials) and a rate limit (our request budget, shared with the sweep) say nothing
about the gateway's health and are not counted.

The state lives in one `gateway_breakers` row per gateway and is only written with conditional
UPDATEs, so any number of processes agree: every outcome is counted once, the opening condition
is evaluated by the database on the counts it holds, and the half-open probe is claimed by
exactly one attempt (its attempt token), with a lease so a probe whose worker died does not
wedge the breaker. The selector reads all rows once per page (`offer`, or `beside` the page's own
row in the same SELECT). Staff can force a gateway on (overriding an open breaker) or off (with
a reason shown to shoppers).
Settings: BREAKER_* in config.py; the rules and their reasons: docs/circuit-breaker.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Any

from flask import current_app
from sqlalchemy import Row, Select, and_, case, literal, or_, select, true, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..extensions import db
from ..gateways.base import GatewayError, GatewayUnavailable
from ..gateways.errors import GatewayRateLimited
from ..gateways.registry import GatewayOption, names
from ..models import BreakerState, Forced, GatewayBreaker, utcnow

log = logging.getLogger(__name__)

TEMPORARILY_UNAVAILABLE = "Temporarily unavailable — please choose another payment method"


class Shown(StrEnum):
    """A gateway's breaker as the selector, the staff page and the metrics see it."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"  # the cool-down is over: one probe at a time may go through
    FORCED_ON = "forced_on"
    FORCED_OFF = "forced_off"


class Result(Enum):
    """What one checkout create tells the breaker."""

    OK = "ok"
    FAILURE = "failure"  # transient: the gateway could not be reached or answered nonsense
    IGNORED = "ignored"  # the gateway answered, or the fault is ours: not about its health


@dataclass(frozen=True)
class Thresholds:
    failures: int  # transient failures in a row that open it; 0: never
    error_percent: int  # more than this share of the window's creates failed...
    min_calls: int  # ...out of at least this many; 0: never
    window: timedelta
    cooldown: timedelta
    probe_lease: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Thresholds:
        return cls(
            failures=int(config["BREAKER_FAILURES"]),
            error_percent=int(config["BREAKER_ERROR_PERCENT"]),
            min_calls=int(config["BREAKER_MIN_CALLS"]),
            window=timedelta(seconds=int(config["BREAKER_WINDOW_SECONDS"])),
            cooldown=timedelta(seconds=int(config["BREAKER_COOLDOWN_SECONDS"])),
            probe_lease=timedelta(seconds=int(config["BREAKER_PROBE_LEASE_SECONDS"])),
        )


def result_of(error: GatewayError | None) -> Result:
    """How a create's outcome counts: None is a created checkout (see the module doc)."""
    if error is None:
        return Result.OK
    if isinstance(error, GatewayUnavailable) and not isinstance(error, GatewayRateLimited):
        return Result.FAILURE
    return Result.IGNORED


@dataclass(frozen=True)
class Breaker:
    """One gateway's `gateway_breakers` row as read: a plain value (columns as attributes)."""

    gateway: str
    state: str
    consecutive_failures: int
    window_started_at: datetime | None
    window_calls: int
    window_failures: int
    opened_at: datetime | None
    open_until: datetime | None
    probe_token: str | None
    probe_until: datetime | None
    forced: str | None
    forced_reason: str | None
    forced_by: str | None
    forced_at: datetime | None


def shown(row: Breaker | None, now: datetime) -> Shown:
    """The state of a breaker row at `now`; no row is a closed breaker nobody forced."""
    if row is None:
        return Shown.CLOSED
    if row.forced == Forced.ON:
        return Shown.FORCED_ON
    if row.forced == Forced.OFF:
        return Shown.FORCED_OFF
    if row.state != BreakerState.OPEN:
        return Shown.CLOSED
    return Shown.HALF_OPEN if row.open_until is None or row.open_until <= now else Shown.OPEN


_TABLE = GatewayBreaker.__table__
_FIELDS = tuple(column.name for column in _TABLE.c)
# built once: the statement never changes
_ALL = select(_TABLE)


def read() -> dict[str, Breaker]:
    """Every gateway's breaker row, by gateway name: one query, as Core rows (half the cost of
    loading ORM objects), in the session's transaction: a checkout POST decides on it."""
    return _breakers(db.session.execute(_ALL))


def beside(statement: Select[Any]) -> Select[Any]:
    """`statement` with every breaker row's columns after its own, for a page that shows one
    row of its own and the selector: both in one round trip (`split` takes them apart), which
    a page that only shows them can read outside any transaction (db_reads).

    A LEFT JOIN on true: each breaker row beside the page's row (a handful, one per gateway),
    or one row of NULLs while no breaker has a row yet; no row at all when the page's is missing.
    """
    return statement.outerjoin(_TABLE, true()).add_columns(*_TABLE.c)


def split(rows: Sequence[Row[Any]], width: int) -> tuple[tuple[Any, ...], dict[str, Breaker]]:
    """The page's own `width` columns and the breakers, from a non-empty result of `beside`."""
    return tuple(rows[0][:width]), _breakers(row[width:] for row in rows)


def _breakers(rows: Iterable[Sequence[Any]]) -> dict[str, Breaker]:
    """Breaker values by gateway from rows of the table's columns (all NULL: no row)."""
    found = (dict(zip(_FIELDS, row, strict=True)) for row in rows)
    return {values["gateway"]: Breaker(**values) for values in found if values["gateway"]}


def snapshot() -> dict[str, str]:
    """Each configured gateway's state (a `Shown` value), for the metrics."""
    rows = read()
    now = utcnow()
    return {name: str(shown(rows.get(name), now)) for name in names()}


class Offer:
    """The selector's options with the breakers applied, from one read per page.

    An option the configuration already disabled keeps its own reason. Forced off shows staff's
    reason; open, or half-open with its probe under way, shows TEMPORARILY_UNAVAILABLE.
    """

    def __init__(self, options: list[GatewayOption], rows: dict[str, Breaker]) -> None:
        self._configured = {option.name: option for option in options}
        self._rows = rows
        self._now = utcnow()
        self.options = [self._apply(option) for option in options]

    def claim(self, name: str, attempt_token: str, creates: bool = True) -> GatewayOption | None:
        """The option a checkout POST for `name` may use: enabled only if it may go on now.

        Half-open, an attempt that `creates` must claim the probe first (the probe's own double
        click claims it again). One that only continues a payment already started creates
        nothing, learns nothing of the gateway's health, and so goes on without taking the
        probe, while it is free or its own. When another attempt holds the probe, the option
        comes back disabled, and is shown so if the page is rendered again.
        """
        option = self._configured.get(name)
        if option is None or not option.enabled:
            return option
        row = self._rows.get(name)
        state = shown(row, self._now)
        if state in (Shown.CLOSED, Shown.FORCED_ON):
            return option
        if state == Shown.HALF_OPEN and not creates:
            assert row is not None
            if _probe_free(row, self._now) or row.probe_token == attempt_token:
                return option
        if state == Shown.HALF_OPEN and creates and _claim_probe(name, attempt_token, self._now):
            log.info("gateway %s: half-open, this attempt is the one probe", name)
            return option
        index = [o.name for o in self.options].index(name)
        if self.options[index].enabled:  # the probe was free when the page was read
            self.options[index] = replace(
                option, enabled=False, disabled_reason=TEMPORARILY_UNAVAILABLE
            )
        return self.options[index]

    def _apply(self, option: GatewayOption) -> GatewayOption:
        if not option.enabled:
            return option
        row = self._rows.get(option.name)
        state = shown(row, self._now)
        if state == Shown.FORCED_OFF:
            assert row is not None
            reason = row.forced_reason or TEMPORARILY_UNAVAILABLE
        elif state == Shown.OPEN or (state == Shown.HALF_OPEN and not _probe_free(row, self._now)):
            reason = TEMPORARILY_UNAVAILABLE
        else:
            return option
        return replace(option, enabled=False, disabled_reason=reason)


def offer(options: list[GatewayOption]) -> Offer:
    """Apply the breakers to the registry's options for one checkout page (one query)."""
    return Offer(options, read())


def record(gateway: str, result: Result, attempt_token: str | None = None) -> None:
    """Count one create's outcome; open, close or reopen the breaker as it says. Commits.

    `attempt_token` is the create's attempt: when it holds the half-open probe, its success
    closes the breaker and its failure opens it for a fresh cool-down. A database error is
    logged, not raised: the checkout it describes has already happened (or failed) at the
    gateway, and the shopper must get that answer.
    """
    try:
        _record(gateway, result, attempt_token, Thresholds.from_config(current_app.config))
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("gateway %s: the breaker could not record a create (%s)", gateway, result)


def force(gateway: str, forced: str | None, reason: str, by: str) -> None:
    """Staff's override: Forced.ON, Forced.OFF, or None for automatic again. Commits."""
    values = {"forced": forced, "forced_reason": reason, "forced_by": by, "forced_at": utcnow()}
    _update_row(gateway, update(GatewayBreaker).values(**values))
    db.session.commit()
    log.warning("gateway %s: breaker %s by %s: %s", gateway, forced or "automatic", by, reason)


def _record(gateway: str, result: Result, token: str | None, limits: Thresholds) -> None:
    now = utcnow()
    if result == Result.IGNORED:
        _release_probe(gateway, token)
        db.session.commit()
        return
    failed = int(result == Result.FAILURE)
    _update_row(gateway, _count(failed, now, limits))
    if token is not None and _settle_probe(gateway, token, result, now, limits):
        db.session.commit()
        return
    opened = failed and _trip(gateway, now, limits)
    db.session.commit()
    if opened:
        log.warning(
            "gateway %s: breaker opened after repeated transient create failures; refused for %d s",
            gateway,
            limits.cooldown.total_seconds(),
        )


def _count(failed: int, now: datetime, limits: Thresholds) -> Any:
    """Add one create to the counts; a window older than BREAKER_WINDOW_SECONDS starts afresh.

    Every SET reads the row as it was before the statement, so the database does the counting
    and concurrent workers never lose an increment.
    """
    table = GatewayBreaker
    fresh = or_(table.window_started_at.is_(None), table.window_started_at <= now - limits.window)
    return update(table).values(
        window_started_at=case(
            (fresh, literal(now, table.window_started_at.type)), else_=table.window_started_at
        ),
        window_calls=case((fresh, 1), else_=table.window_calls + 1),
        window_failures=case((fresh, failed), else_=table.window_failures + failed),
        consecutive_failures=table.consecutive_failures + 1 if failed else 0,
    )


def _trip(gateway: str, now: datetime, limits: Thresholds) -> bool:
    """Open a closed breaker whose counts reached a threshold. True when this call opened it."""
    table = GatewayBreaker
    reached: list[Any] = []
    if limits.failures > 0:
        reached.append(table.consecutive_failures >= limits.failures)
    if limits.min_calls > 0:
        reached.append(
            and_(
                table.window_calls >= limits.min_calls,
                table.window_failures * 100 > table.window_calls * limits.error_percent,
            )
        )
    if not reached:
        return False
    result = db.session.execute(
        update(table)
        .where(table.gateway == gateway, table.state == BreakerState.CLOSED, or_(*reached))
        .values(
            state=BreakerState.OPEN,
            opened_at=now,
            open_until=now + limits.cooldown,
            probe_token=None,
            probe_until=None,
        )
    )
    return result.rowcount == 1


def _settle_probe(
    gateway: str, token: str, result: Result, now: datetime, limits: Thresholds
) -> bool:
    """The probe's outcome: success closes (counts start afresh), failure reopens."""
    table = GatewayBreaker
    if result == Result.OK:
        values: dict[str, Any] = {
            "state": BreakerState.CLOSED,
            "consecutive_failures": 0,
            "window_started_at": None,
            "window_calls": 0,
            "window_failures": 0,
            "open_until": None,
        }
    else:
        values = {"opened_at": now, "open_until": now + limits.cooldown}
    settled = db.session.execute(
        update(table)
        .where(
            table.gateway == gateway,
            table.state == BreakerState.OPEN,
            table.probe_token == token,
        )
        .values(probe_token=None, probe_until=None, **values)
    )
    if settled.rowcount != 1:
        return False
    if result == Result.OK:
        log.warning("gateway %s: the probe create went through, breaker closed", gateway)
    else:
        log.warning("gateway %s: the probe create failed, breaker open again", gateway)
    return True


def _release_probe(gateway: str, token: str | None) -> None:
    """A probe that learnt nothing about the gateway's health lets the next attempt probe."""
    if token is None:
        return
    db.session.execute(
        update(GatewayBreaker)
        .where(GatewayBreaker.gateway == gateway, GatewayBreaker.probe_token == token)
        .values(probe_token=None, probe_until=None)
    )


def _claim_probe(gateway: str, token: str, now: datetime) -> bool:
    """Claim the half-open probe for this attempt: one conditional UPDATE, one winner.

    The same attempt may claim again (a double click posts the same token); anyone else only
    once the holder's lease has run out.
    """
    table = GatewayBreaker
    lease = Thresholds.from_config(current_app.config).probe_lease
    claimed = db.session.execute(
        update(table)
        .where(
            table.gateway == gateway,
            table.state == BreakerState.OPEN,
            table.open_until <= now,
            or_(table.probe_token.is_(None), table.probe_until <= now, table.probe_token == token),
        )
        .values(probe_token=token, probe_until=now + lease)
    )
    db.session.commit()
    return claimed.rowcount == 1


def _probe_free(row: Breaker | None, now: datetime) -> bool:
    return row is None or row.probe_token is None or (row.probe_until or now) <= now


def _update_row(gateway: str, statement: Any) -> None:
    """Run an UPDATE of `gateway`'s row, creating the row first if this is its first write."""
    statement = statement.where(GatewayBreaker.gateway == gateway)
    if db.session.execute(statement).rowcount == 1:
        return
    try:
        db.session.add(
            GatewayBreaker(
                gateway=gateway,
                state=BreakerState.CLOSED,
                consecutive_failures=0,
                window_calls=0,
                window_failures=0,
            )
        )
        db.session.commit()
    except IntegrityError:  # another worker created it first
        db.session.rollback()
    db.session.execute(statement)
