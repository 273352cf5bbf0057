"""The staff audit log: who did what, to what, when and from which address.

`record()` is the one way staff actions are written. It takes who from Flask-Login's current_user
and the address from the request (request.remote_addr, which ProxyFix has already resolved behind
the proxy). Transaction: `record()` COMMITS. It adds the entry and commits the session, so call it
after the action's own commit: an action that failed and rolled back never leaves an entry
claiming it happened, and an entry is never lost to a later rollback of the caller. Anything the
caller still has pending in the session is committed with it.

A failed login has no current_user: `record_attempt()` writes it with the e-mail tried as who (no
staff id) and never the password.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import request
from flask_login import current_user

from ..extensions import db
from ..models import AuditEntry

log = logging.getLogger(__name__)

_EMAIL_MAX = 254
_ACTION_MAX = 32
_TARGET_MAX = 254
_IP_MAX = 45


def record(action: str, target: str | None = None, **details: Any) -> None:
    """Write one audit entry for the logged-in staff user, and commit it (see the module doc).

    `details` are stored as JSON: strings, ints, booleans and None as they are; anything else
    (Money, Decimal, dates) as its str(), so an amount is never turned into a float.
    """
    _write(current_user.id, current_user.email, action, target, details)


def record_attempt(email: str, action: str, target: str | None = None, **details: Any) -> None:
    """Write an entry for somebody not logged in (a failed login): who is the e-mail tried."""
    _write(None, email, action, target, details)


def _write(
    staff_id: int | None, email: str, action: str, target: str | None, details: dict[str, Any]
) -> None:
    entry = AuditEntry(
        staff_id=staff_id,
        staff_email=email[:_EMAIL_MAX],
        action=action[:_ACTION_MAX],
        target=target[:_TARGET_MAX] if target is not None else None,
        ip=(request.remote_addr or "")[:_IP_MAX] or None,
        details={key: _json_value(value) for key, value in details.items()} or None,
    )
    db.session.add(entry)
    db.session.commit()
    log.info("audit: %s %s %s from %s", entry.staff_email, action, target or "-", entry.ip)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    return str(value)
