"""Local emulators of the three gateways, served as their own WSGI app.

Each emulator speaks its gateway's real wire protocol (paths, fields, auth, signatures, error
shapes; see shared/protocols.md) and serves a hosted page a person can click through. The site's
gateway clients are pointed at this app by base URL; nothing in the gateway modules knows it is
a sandbox.
"""

from __future__ import annotations

import os

from flask import Flask

from .env import SandboxEnv, SandboxOptions


def create_sandbox_app(options: SandboxOptions | None = None) -> Flask:
    from . import coinpayments, control, mpgs, stripe

    here = os.path.dirname(os.path.abspath(__file__))
    app = Flask(
        __name__,
        template_folder=os.path.join(here, "templates"),
        static_folder=None,  # MPGS serves /static/checkout/checkout.min.js itself
    )
    env = SandboxEnv(options or SandboxOptions())
    app.extensions["sandbox"] = env
    for module in (control, coinpayments, mpgs, stripe):
        module.register(app, env)
    return app
