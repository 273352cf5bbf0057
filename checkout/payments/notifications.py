"""Gateway notifications (IPN, webhooks): verify, store once, then feed the funnel.

A notification is stored before it is acted on, keyed by (gateway, event id). A duplicate whose
first copy was fully processed is acknowledged and changes nothing; one whose first copy never
finished (the process died, the database was busy) is processed again, which the funnel makes
safe. A verified payload may be used as is; a gateway that gives no such guarantee only gets a
fresh look-up.

What one verified IPN costs, in its common case (a payment found, an observation to feed):
the INSERT of the row, committed on its own before anything is acted on; then, in one
transaction, the payment's look-up, the funnel's compare-and-set on that very copy
(`fresh=True`: it was read a moment ago in the same transaction, and a stale copy only loses
the compare-and-set) and the row's outcome (`along=`, so it commits with the decision and only
with it). Two commits, four statements. The statements are built once at import with bound
parameters and sent through Core (no unit of work for a row that is never read back).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..gateways.base import InboundNotification, InvalidNotification
from ..gateways.registry import get_gateway
from ..hostile_input import unstorable
from ..models import Notification, Payment
from ..observability import in_payment
from .service import Source, record_observation, refresh

log = logging.getLogger(__name__)

_DONE = frozenset({"processed", "unknown_payment", "ignored"})

_ROWS = Notification.__table__
_STORE = insert(_ROWS).returning(_ROWS.c.id)
_FIRST_COPY = select(_ROWS.c.id, _ROWS.c.outcome).where(
    _ROWS.c.gateway == bindparam("gateway"), _ROWS.c.event_id == bindparam("event_id")
)
_SET_OUTCOME = (
    update(_ROWS)
    .where(_ROWS.c.id == bindparam("row_id"))
    .values(outcome=bindparam("new_outcome"), payment_id=bindparam("new_payment_id"))
)
# populate_existing: the copy handed to the funnel as fresh is the one this SELECT read, even if
# the session already held the payment
_PAYMENT_BY_REF = (
    select(Payment)
    .where(Payment.ref == bindparam("ref"), Payment.gateway == bindparam("gateway"))
    .execution_options(populate_existing=True)
)
_PAYMENT_BY_GATEWAY_REFERENCE = (
    select(Payment)
    .where(
        Payment.gateway_reference == bindparam("reference"),
        Payment.gateway == bindparam("gateway"),
    )
    .execution_options(populate_existing=True)
)


@dataclass(frozen=True)
class NotificationResult:
    http_status: int
    body: str
    outcome: str  # rejected / duplicate / processed / unknown_payment / ignored


def handle_notification(
    gateway_name: str, headers: Mapping[str, str], body: bytes
) -> NotificationResult:
    gateway = get_gateway(gateway_name)
    ack_body, ack_status = gateway.notification_ack
    try:
        inbound = _well_formed(gateway.parse_notification(headers, body))
    except InvalidNotification as exc:
        log.warning("%s notification rejected: %s", gateway_name, exc)
        return NotificationResult(400, f"rejected: {exc}", "rejected")

    stored = _store(gateway_name, inbound)
    if stored.outcome in _DONE:
        log.info("%s notification %s is a duplicate", gateway_name, inbound.event_id)
        return NotificationResult(ack_status, ack_body, "duplicate")

    outcome = _process(gateway_name, inbound, stored)
    return NotificationResult(ack_status, ack_body, outcome)


def _well_formed(inbound: InboundNotification) -> InboundNotification:
    """Refuse a notification whose ids are not text, whatever its gateway module let through.

    The ids are database keys and lookups: one that is a number, list or object would fail
    deep inside the store or the lookup (a 500 and a gateway retrying forever), so it is a 400
    here, before anything is stored.
    """
    if not isinstance(inbound.event_id, str) or not inbound.event_id:
        raise InvalidNotification("event id is not a non-empty string")
    if not isinstance(inbound.event_type, str):
        raise InvalidNotification("event type is not a string")
    for name in ("payment_ref", "gateway_reference"):
        if not isinstance(getattr(inbound, name), str | None):
            raise InvalidNotification(f"{name} is not a string")
    ids = (inbound.event_id, inbound.event_type, inbound.payment_ref, inbound.gateway_reference)
    if unstorable([*ids, inbound.payload]):
        raise InvalidNotification("holds a NUL or a lone surrogate, which cannot be stored")
    return inbound


@dataclass(frozen=True)
class _Stored:
    """The notification's row as stored: its id and its outcome so far (read once, kept here,
    so that nothing has to read the row again after the commits that follow)."""

    id: int
    outcome: str


def _store(gateway_name: str, inbound: InboundNotification) -> _Stored:
    """Insert and commit the row; on a duplicate, read the first copy's id and outcome.

    `received_at` comes from the column's default; a missing payload is stored as the ORM
    stored it (JSON null).
    """
    event_id = inbound.event_id[:128]
    row = {
        "gateway": gateway_name,
        "event_id": event_id,
        "event_type": inbound.event_type[:64],
        "outcome": "received",
        "payload": dict(inbound.payload) if inbound.payload is not None else None,
    }
    try:
        stored = _Stored(db.session.execute(_STORE, row).scalar_one(), "received")
        db.session.commit()
        return stored
    except IntegrityError:
        db.session.rollback()
        first = db.session.execute(
            _FIRST_COPY, {"gateway": gateway_name, "event_id": event_id}
        ).one()
        return _Stored(first.id, first.outcome)


def _process(gateway_name: str, inbound: InboundNotification, stored: _Stored) -> str:
    if inbound.ignore:
        return _finish(stored, "ignored", None)
    payment = _find_payment(gateway_name, inbound)
    if payment is None:
        log.warning(
            "%s notification %s names no payment of ours (ref=%s, gateway ref=%s)",
            gateway_name,
            inbound.event_id,
            inbound.payment_ref,
            inbound.gateway_reference,
        )
        return _finish(stored, "unknown_payment", None)
    payment_id = payment.id  # read before the funnel's commit expires the row
    in_payment(payment.ref, payment.gateway)
    if inbound.observation is None:
        refresh(payment, Source.IPN)
        return _finish(stored, "processed", payment_id)
    record_observation(
        payment,
        inbound.observation,
        Source.IPN,
        fresh=True,
        along=lambda: _set_outcome(stored, "processed", payment_id),
    )
    return "processed"


def _find_payment(gateway_name: str, inbound: InboundNotification) -> Payment | None:
    if inbound.payment_ref:
        payment = db.session.scalar(
            _PAYMENT_BY_REF, {"ref": inbound.payment_ref, "gateway": gateway_name}
        )
        if payment is not None:
            return payment
    if inbound.gateway_reference:
        return db.session.scalar(
            _PAYMENT_BY_GATEWAY_REFERENCE,
            {"reference": inbound.gateway_reference, "gateway": gateway_name},
        )
    return None


def _set_outcome(stored: _Stored, outcome: str, payment_id: int | None) -> None:
    """Set the row's outcome by id, in the transaction open (committed by the caller)."""
    db.session.execute(
        _SET_OUTCOME, {"row_id": stored.id, "new_outcome": outcome, "new_payment_id": payment_id}
    )


def _finish(stored: _Stored, outcome: str, payment_id: int | None) -> str:
    _set_outcome(stored, outcome, payment_id)
    db.session.commit()
    return outcome
