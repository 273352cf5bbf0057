"""Emulator of HyperPay COPYandPAY (OPPWA): the /v1 API, paymentWidgets.js and encrypted webhooks.

It follows the documents and observed answers in docs/copyandpay.md, not our client: Bearer auth
and an entityId on every call (401 800.900.300 / 403 800.900.301 / 400 200.300.404 with
`parameterErrors`), amounts matching `^[0-9]{1,12}(\\.[0-9]{2})?$`, 200.300.404 "No payment
session found" for a checkout older than 30 minutes, the transaction report by
merchantTransactionId (404 700.400.580 when empty), RF refunds against a debit, and webhooks
sealed with AES-256-GCM (hex body, IV and tag headers). Test cards are in cards.py.

    api.py        the /v1 routes and the gate every call goes through (knobs, auth, entityId)
    widget.py     paymentWidgets.js, the card POST, 3-D Secure, the way back to the shop
    payments.py   what a submitted card does to the checkout
    notify.py     encrypted webhooks
    controls.py   sandbox-only helpers
    store.py      checkouts and payments in memory
    answers.py    OPPWA's answer envelope and error bodies
    cards.py      the test cards
"""

from __future__ import annotations

from flask import Flask

from ..env import SandboxEnv
from . import api, controls, widget
from .store import CopyAndPayStore


def register(app: Flask, env: SandboxEnv) -> None:
    store = CopyAndPayStore(env)
    env.on_reset(store.reset)
    app.extensions["sandbox_copyandpay"] = store
    for blueprint in (api.blueprint(store), widget.blueprint(store), controls.blueprint(store)):
        app.register_blueprint(blueprint)
