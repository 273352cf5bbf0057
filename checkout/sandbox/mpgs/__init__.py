"""Emulator of the Mastercard Gateway (MPGS) REST API and its Hosted Checkout page.

It follows the real gateway's wire format (shared/protocols.md section B), not our client:
Basic auth `merchant.<id>` with the exact 401 body, the session operation chosen by API version,
201 on creates, order fields at the top level of Retrieve Order with `transaction` as a list,
"Unable to find order" for an order nobody has paid into, error bodies and HTTP codes as B.11,
and webhooks carrying the Retrieve Transaction body with `X-Notification-Secret`,
`X-Notification-Id` and `X-Notification-Attempt`.

An MPGS order only exists once the payer submits a card on the hosted page; creating a session
does not create one. Test cards (also listed on the page):

    5123450000000008, 4508750015741019   approved
    4000000000000002                     declined (DECLINED)
    4000000000009995                     insufficient funds (INSUFFICIENT_FUNDS)
    4000000000000069                     expired card (EXPIRED_CARD)
    4000000000003220                     3-D Secure challenge, then approve or fail

Sandbox-only helpers live under /_sandbox/mpgs/ (force an order's state, force the next API
answer); a real gateway has nothing like them.

    api.py        the REST routes and the gate every call goes through (knobs, auth)
    sessions.py   Create Checkout Session and its checks
    refunds.py    REFUND, the one transaction the API emulates
    hosted.py     checkout.js, the card page, 3-D Secure, the return to the merchant
    payments.py   what a submitted card does to the order
    controls.py   sandbox-only helpers
    store.py      sessions and orders in memory
    records.py    Retrieve Order and transaction record shapes
    notify.py     webhooks
    answers.py    JSON numbers, times, amounts and error bodies as the gateway writes them
    cards.py      the test cards
"""

from __future__ import annotations

from flask import Flask

from ..env import SandboxEnv
from . import api, controls, hosted
from .store import MpgsStore


def register(app: Flask, env: SandboxEnv) -> None:
    store = MpgsStore(env)
    env.on_reset(store.reset)
    app.extensions["sandbox_mpgs"] = store
    for blueprint in (api.blueprint(store), hosted.blueprint(store), controls.blueprint(store)):
        app.register_blueprint(blueprint)
