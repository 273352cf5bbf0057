"""Gateway notifications (IPN, webhooks): verify, store once, then feed the funnel.

A notification is stored before it is acted on, keyed by (gateway, event id). A duplicate whose
first copy was fully processed is acknowledged and changes nothing; one whose first copy never
finished (the process died, the database was busy) is processed again, which the funnel makes
safe. A verified payload may be used as is; a gateway that gives no such guarantee only gets a
fresh look-up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import update
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
    row = Notification(
        gateway=gateway_name,
        event_id=inbound.event_id[:128],
        event_type=inbound.event_type[:64],
        outcome="received",
        payload=dict(inbound.payload) if inbound.payload is not None else None,
    )
    db.session.add(row)
    try:
        db.session.flush()
        stored = _Stored(row.id, row.outcome)
        db.session.commit()
        return stored
    except IntegrityError:
        db.session.rollback()
        first = db.session.execute(
            db.select(Notification.id, Notification.outcome).filter_by(
                gateway=gateway_name, event_id=row.event_id
            )
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
    if inbound.observation is not None:
        record_observation(payment, inbound.observation, Source.IPN)
    else:
        refresh(payment, Source.IPN)
    return _finish(stored, "processed", payment_id)


def _find_payment(gateway_name: str, inbound: InboundNotification) -> Payment | None:
    if inbound.payment_ref:
        payment = db.session.scalar(
            db.select(Payment).filter_by(ref=inbound.payment_ref, gateway=gateway_name)
        )
        if payment is not None:
            return payment
    if inbound.gateway_reference:
        return db.session.scalar(
            db.select(Payment).filter_by(
                gateway_reference=inbound.gateway_reference, gateway=gateway_name
            )
        )
    return None


def _finish(stored: _Stored, outcome: str, payment_id: int | None) -> str:
    db.session.execute(
        update(Notification)
        .where(Notification.id == stored.id)
        .values(outcome=outcome, payment_id=payment_id)
    )
    db.session.commit()
    return outcome
