"""How the buyer and the clock move a CoinPayments transaction between statuses.

Nothing runs in the background: time acts on a transaction whenever it is touched (an API call,
a page view, an action), by `env.clock`, so a test moves the clock instead of sleeping. Every
change a buyer or the clock makes queues an IPN, as the real site sends one per status change.
Call these with the store lock held.
"""

from __future__ import annotations

import secrets

from . import notify
from .store import ACTIONS, Store, Txn


def touch(store: Store, txn: Txn) -> None:
    """Let time act on `txn`: expiry, and confirmations when auto-confirm is on."""
    now = store.env.clock.timestamp()
    if txn.status == 0 and now >= txn.expires:
        txn.status = -1
        notify.send_ipn(store.env, txn)
    auto = store.settings.auto_confirm_seconds
    if txn.status == 1 and auto > 0 and txn.received_at is not None:
        target = min(txn.confirms_needed, int((now - txn.received_at) // auto))
        if target > txn.confirms:
            txn.confirms = target
            _maybe_complete(txn, now)
            notify.send_ipn(store.env, txn)


def perform(store: Store, txn: Txn, action: str) -> str | None:
    """Apply one hosted-page action; the reason in words when it does not apply now."""
    now = store.env.clock.timestamp()
    remaining = txn.remaining
    if action in ("send_full", "send_short", "expire") and txn.status != 0:
        return f"{ACTIONS[action]}: the payment is no longer waiting for coins"
    if action == "send_full":
        txn.received += remaining
        txn.received_at = now
        txn.status = 1
        _maybe_complete(txn, now)
    elif action == "send_short":
        short = max(1, remaining * store.settings.short_percent // 100)
        if short >= remaining:
            return "Send too little: only one unit is still due"
        txn.received += short
    elif action == "expire":
        _time_out(txn, now)
    elif action == "confirm":
        if txn.status != 1:
            return "Add a confirmation: no coins are waiting for confirmations"
        txn.confirms += 1
        _maybe_complete(txn, now)
    elif action == "send_late":
        if txn.status not in (0, -1):
            return "Send too late: the payment is already paid"
        if txn.status == 0:
            _time_out(txn, now)
            notify.send_ipn(store.env, txn)  # the timeout IPN goes out before the coins arrive
        txn.received += remaining
        txn.received_at = now
        txn.confirms = txn.confirms_needed
        _maybe_complete(txn, now)
    else:
        return f"unknown action {action!r}"
    notify.send_ipn(store.env, txn)
    return None


def _time_out(txn: Txn, now: int) -> None:
    """End the buyer's time now, as if the timer had run out this second."""
    txn.timeout = max(0, now - txn.created)
    txn.status = -1


def _maybe_complete(txn: Txn, now: int) -> None:
    """Complete once every coin is in and confirmed; the payout gets its own transaction id."""
    if txn.received >= txn.due and txn.confirms >= txn.confirms_needed and txn.status < 100:
        txn.status = 100
        txn.completed = now
        txn.send_tx = secrets.token_hex(32)
