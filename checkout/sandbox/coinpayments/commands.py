"""The `cmd`s the emulated API answers, typed as the real API types them (protocols.md A.4-A.6).

Each command takes the parsed form and answers either the `result` object or an error message;
api.py wraps both in the envelope. `amount` and `confirms_needed` are strings, `timeout` and the
`get_tx_info` counters integers, as live answers have them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from ..common import UPPER_ALNUM, random_id
from . import coins
from .hosted import page_urls
from .lifecycle import touch
from .store import ERR_PAYMENT_ID, Store, Txn

log = logging.getLogger(__name__)

MULTI_LIMIT = 25
_PASSTHROUGH = ("buyer_name", "item_name", "item_number", "invoice", "custom")

Command = Callable[[Store, dict[str, str]], dict[str, Any] | str]


def create_transaction(store: Store, form: dict[str, str]) -> dict[str, Any] | str:
    for name in ("amount", "currency1", "currency2", "buyer_email"):
        if not form.get(name):
            return f"Missing required field: {name}"
    currency1, currency2 = form["currency1"].upper(), form["currency2"].upper()
    try:
        amount1 = Decimal(form["amount"])
    except InvalidOperation:
        return "Invalid amount!"
    if not amount1.is_finite() or amount1 <= 0:
        return "Invalid amount!"
    if currency2 not in coins.COIN_USD:
        return f"Invalid or unsupported currency2: {currency2}"
    usd = coins.usd(amount1, currency1)
    if usd is None:
        return f"Invalid or unsupported currency1: {currency1}"
    txn = _new_txn(store, form, currency1, currency2, coins.units_for(usd, currency2))
    store.txns[txn.txn_id] = txn
    result: dict[str, Any] = {
        "amount": coins.f8(txn.due),
        "txn_id": txn.txn_id,
        "address": txn.address,
        "confirms_needed": str(txn.confirms_needed),
        "timeout": txn.timeout,
        **page_urls(txn),
    }
    if txn.dest_tag:
        result["dest_tag"] = txn.dest_tag
    log.info("sandbox coinpayments: created %s for %s %s", txn.txn_id, amount1, currency1)
    return result


def get_tx_info(store: Store, form: dict[str, str]) -> dict[str, Any] | str:
    txid = form.get("txid") or form.get("pmtid") or ""  # the legacy docs call it pmtid
    if not txid:
        return "Missing required field: txid"
    if form.get("full", "0") not in ("0", "1"):
        return "Invalid value for full: use 0 or 1"
    txn = store.txns.get(txid)
    if txn is None:
        return ERR_PAYMENT_ID
    touch(store, txn)
    return tx_info(txn, full=form.get("full") == "1")


def get_tx_info_multi(store: Store, form: dict[str, str]) -> dict[str, Any] | str:
    """One answer keyed by id, each with its own `error`: an unknown id does not fail the rest."""
    raw_ids = form.get("txid") or form.get("pmtid") or ""
    ids = [i.strip() for i in raw_ids.split("|") if i.strip()]
    if not ids:
        return "Missing required field: txid"
    if len(ids) > MULTI_LIMIT:
        return f"Too many payment IDs! (max {MULTI_LIMIT})"
    result: dict[str, Any] = {}
    for txid in ids:
        txn = store.txns.get(txid)
        if txn is None:
            result[txid] = {"error": ERR_PAYMENT_ID}
            continue
        touch(store, txn)
        result[txid] = {"error": "ok", **tx_info(txn, full=False)}
    return result


COMMANDS: dict[str, Command] = {
    "create_transaction": create_transaction,
    "get_tx_info": get_tx_info,
    "get_tx_info_multi": get_tx_info_multi,
}


def tx_info(txn: Txn, *, full: bool) -> dict[str, Any]:
    """One transaction as `get_tx_info` shows it; `full` adds the checkout data."""
    info: dict[str, Any] = {
        "time_created": txn.created,
        "time_expires": txn.expires,
        "status": txn.status,
        "status_text": txn.status_text,
        "type": "coins",
        "coin": txn.currency2,
        "amount": txn.due,
        "amountf": coins.f8(txn.due),
        "received": txn.received,
        "receivedf": coins.f8(txn.received),
        "recv_confirms": txn.confirms,
        "payment_address": txn.address,
    }
    if txn.completed is not None:
        info["time_completed"] = txn.completed
        info["send_tx"] = txn.send_tx
    if full:
        info["checkout"] = {
            "currency": txn.currency1,
            "amountf": txn.amount1,
            **{k: v for k, v in txn.extra.items() if k != "buyer_name"},
        }
        info["shipping"] = []
    return info


def _new_txn(store: Store, form: dict[str, str], currency1: str, currency2: str, due: int) -> Txn:
    """A transaction waiting for coins, on the account's current settings."""
    settings = store.settings
    return Txn(
        txn_id=random_id("CP", 24, UPPER_ALNUM),
        key=secrets.token_hex(16),
        created=store.env.clock.timestamp(),
        timeout=settings.timeout,
        amount1=form["amount"],
        currency1=currency1,
        currency2=currency2,
        due=due,
        confirms_needed=settings.confirms_needed,
        address=coins.address(currency2),
        dest_tag=coins.dest_tag(currency2),
        buyer_email=form["buyer_email"],
        extra={k: form[k] for k in _PASSTHROUGH if form.get(k)},
        ipn_url=form.get("ipn_url", ""),
        success_url=form.get("success_url", ""),
        cancel_url=form.get("cancel_url", ""),
    )
