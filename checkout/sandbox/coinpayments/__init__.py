"""Emulator of the CoinPayments legacy API (`POST /api.php`) and its hosted checkout page.

Faithful to shared/protocols.md section A, not to our client: the HMAC is checked over the raw
body bytes as received (chunked bodies too), errors are HTTP 200 envelopes
`{"error": "...", "result": []}`, numbers are typed as the real API types them (strings for
`amount` and `confirms_needed`, integers for `timeout` and the `get_tx_info` counters), and IPNs
are form-encoded, HMAC-signed with the IPN secret and retried by `env.notifier`.

The hosted page (`/index.php?cmd=checkout&id=..&key=..`) lets a person or a test "send" the full
amount, too little, or too late, let the timer run out, and add confirmations one by one. Time
comes from `env.clock`; expiry is evaluated whenever a transaction is touched (an API call, a
page view, an action). Sandbox-only settings live at `/_sandbox/coinpayments/settings`.

    api.py        /api.php: HMAC auth, form parsing, the error envelope
    commands.py   create_transaction, get_tx_info, get_tx_info_multi
    hosted.py     the checkout/status page, its buttons and the QR image
    controls.py   sandbox-only settings and transaction look-up
    store.py      transactions and account settings in memory
    lifecycle.py  how the buyer and the clock move a transaction's status
    notify.py     signed IPNs
    coins.py      demo prices, addresses, amounts in 1e-8 units
"""

from __future__ import annotations

from flask import Flask

from ..env import SandboxEnv
from . import api, controls, hosted
from .store import Store


def register(app: Flask, env: SandboxEnv) -> None:
    store = Store(env)
    env.on_reset(store.clear)
    app.extensions["sandbox_coinpayments"] = store
    for blueprint in (api.blueprint(store), hosted.blueprint(store), controls.blueprint(store)):
        app.register_blueprint(blueprint)
