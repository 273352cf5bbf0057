"""Copies of one open checkout in an emulator's memory, for load tests and benchmarks.

Opening 10,000 checkouts through the gateway clients takes minutes of HTTP round trips that a
sweep test or benchmark does not measure. Instead one checkout per gateway is opened for real
and the emulator's record of it is copied under fresh ids, for other payment refs: every field
stays as the emulator wrote it, so the copies answer look-ups exactly like the original.

`copy_checkout(app, gateway, reference, ref, age)` returns what the copy holds differently from
the original, as {original's value: copy's value}: at least {reference: the copy's reference,
what the gateway's create would have answered}. `age` makes the copy that many seconds older
where an emulator finds checkouts by creation time (Stripe's list of sessions), so copies are
spread over time as real checkouts are; elsewhere the copy keeps the original's clock, and with
it the original's deadlines. Sandbox-only: production never imports it.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import Flask

from .common import UPPER_ALNUM, random_id
from .copyandpay.store import new_checkout_id

Changes = dict[object, object]


def copy_checkout(app: Flask, gateway: str, reference: str, ref: str, age: int = 0) -> Changes:
    """Copy `gateway`'s open checkout `reference` for payment `ref`; what the copy changed."""
    try:
        copier = _COPIERS[gateway]
    except KeyError:
        raise ValueError(f"no copier for {gateway!r}: add one to {__name__}") from None
    return copier(app.extensions[f"sandbox_{gateway}"], reference, ref, age)


def _coinpayments(store: Any, txn_id: str, ref: str, age: int) -> Changes:
    with store.lock:
        original = store.txns[txn_id]
        twin = replace(
            original,
            txn_id=random_id("CP", 24, UPPER_ALNUM),
            key=secrets.token_hex(16),
            extra={**original.extra, "invoice": ref},
        )
        store.txns[twin.txn_id] = twin
    return {txn_id: twin.txn_id}


def _mpgs(store: Any, session_id: str, ref: str, age: int) -> Changes:
    with store.lock:
        original = store.sessions[session_id]
        twin = replace(
            original,
            id=random_id("SESSION0002", 20, UPPER_ALNUM),
            order={**original.order, "id": ref},
        )
        store.sessions[twin.id] = twin
    return {session_id: twin.id}


def _stripe(state: Any, session_id: str, ref: str, age: int) -> Changes:
    with state.lock:
        original = state.sessions[session_id]
        twin = copy.deepcopy(original)
        twin["id"] = random_id("cs_test_", 58)
        twin["client_reference_id"] = ref
        twin["created"] = original["created"] - age
        twin["url"] = original["url"].replace(session_id, twin["id"])
        state.sessions[twin["id"]] = twin
        state.line_items[twin["id"]] = copy.deepcopy(state.line_items[session_id])
    return {session_id: twin["id"], original["created"]: twin["created"]}


def _copyandpay(store: Any, checkout_id: str, ref: str, age: int) -> Changes:
    with store.lock:
        original = store.checkouts[checkout_id]
        twin = replace(original, id=new_checkout_id(), merchant_transaction_id=ref, payment_ids=[])
        store.checkouts[twin.id] = twin
    return {checkout_id: twin.id}


_COPIERS: dict[str, Callable[[Any, str, str, int], Changes]] = {
    "coinpayments": _coinpayments,
    "mpgs": _mpgs,
    "stripe": _stripe,
    "copyandpay": _copyandpay,
}
