"""Copies of one open checkout in an emulator's memory, for load tests and benchmarks.

Opening 10,000 checkouts through the gateway clients takes minutes of HTTP round trips that a
sweep test or benchmark does not measure. Instead one checkout per gateway is opened for real
and the emulator's record of it is copied under fresh ids, for other payment refs: every field
stays as the emulator wrote it, so the copies answer look-ups exactly like the original.

`copy_checkout(app, gateway, reference, ref)` returns the copy's gateway reference (what the
gateway's create would have answered). Sandbox-only: production never imports it.
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


def copy_checkout(app: Flask, gateway: str, reference: str, ref: str) -> str:
    """Copy `gateway`'s open checkout `reference` for payment `ref`; the copy's reference."""
    try:
        copier = _COPIERS[gateway]
    except KeyError:
        raise ValueError(f"no copier for {gateway!r}: add one to {__name__}") from None
    return copier(app.extensions[f"sandbox_{gateway}"], reference, ref)


def _coinpayments(store: Any, txn_id: str, ref: str) -> str:
    with store.lock:
        original = store.txns[txn_id]
        twin = replace(
            original,
            txn_id=random_id("CP", 24, UPPER_ALNUM),
            key=secrets.token_hex(16),
            extra={**original.extra, "invoice": ref},
        )
        store.txns[twin.txn_id] = twin
    return twin.txn_id


def _mpgs(store: Any, session_id: str, ref: str) -> str:
    with store.lock:
        original = store.sessions[session_id]
        twin = replace(
            original,
            id=random_id("SESSION0002", 20, UPPER_ALNUM),
            order={**original.order, "id": ref},
        )
        store.sessions[twin.id] = twin
    return twin.id


def _stripe(state: Any, session_id: str, ref: str) -> str:
    with state.lock:
        original = state.sessions[session_id]
        twin = copy.deepcopy(original)
        twin["id"] = random_id("cs_test_", 58)
        twin["client_reference_id"] = ref
        twin["url"] = original["url"].replace(session_id, twin["id"])
        state.sessions[twin["id"]] = twin
        state.line_items[twin["id"]] = copy.deepcopy(state.line_items[session_id])
    return twin["id"]


def _copyandpay(store: Any, checkout_id: str, ref: str) -> str:
    with store.lock:
        original = store.checkouts[checkout_id]
        twin = replace(original, id=new_checkout_id(), merchant_transaction_id=ref, payment_ids=[])
        store.checkouts[twin.id] = twin
    return twin.id


_COPIERS: dict[str, Callable[[Any, str, str], str]] = {
    "coinpayments": _coinpayments,
    "mpgs": _mpgs,
    "stripe": _stripe,
    "copyandpay": _copyandpay,
}
