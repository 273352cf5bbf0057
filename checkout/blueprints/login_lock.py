"""A staff account locked for a while after repeated failed logins, in every worker at once.

The counts live in the rate limiter's storage (Redis in production), so ten failures spread over
several gunicorn workers lock the account as surely as ten on one. Keys hold a hash of the
lower-cased e-mail, never the address itself. Unknown e-mails are counted like real ones, so the
lock says nothing about which accounts exist. If the storage cannot answer, the login is not
locked (the per-minute limits still hold, in memory): staff are not shut out by a Redis outage.
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import current_app

from ..extensions import limiter

log = logging.getLogger(__name__)


def _key(kind: str, email: str) -> str:
    return f"staff-login-{kind}/{hashlib.sha256(email.encode()).hexdigest()}"


def locked_for(email: str) -> int:
    """Seconds until `email` may try a password again; 0 when it is not locked."""
    storage = limiter.storage
    key = _key("lock", email)
    try:
        if not storage.get(key):
            return 0
        return max(1, int(storage.get_expiry(key) - time.time()))
    except storage.base_exceptions:
        log.warning("rate-limit storage unavailable; staff login lock not checked")
        return 0


def record_failure(email: str) -> bool:
    """Count a failed password; True when this failure locks the account."""
    storage = limiter.storage
    config = current_app.config
    seconds = int(config["STAFF_LOCK_SECONDS"])
    try:
        failures = storage.incr(_key("failures", email), seconds)
        if failures < config["STAFF_LOCK_FAILURES"]:
            return False
        storage.incr(_key("lock", email), seconds)
        storage.clear(_key("failures", email))
    except storage.base_exceptions:
        log.warning("rate-limit storage unavailable; staff login failure not counted")
        return False
    return True


def record_success(email: str) -> None:
    """A right password starts the failure count again."""
    storage = limiter.storage
    try:
        storage.clear(_key("failures", email))
    except storage.base_exceptions:
        log.warning("rate-limit storage unavailable; staff login failures not cleared")
