"""Local emulators of the gateways, served as their own WSGI app.

Each emulator speaks its gateway's real wire protocol (paths, fields, auth, signatures, error
shapes; see shared/protocols.md) and serves a hosted page a person can click through. The site's
gateway clients are pointed at this app by base URL; nothing in the gateway modules knows it is
a sandbox.
"""

from __future__ import annotations

import importlib
import os

from flask import Flask

from ..config import Config
from ..gateways.registry import plugins
from .env import SandboxEnv, SandboxOptions


def create_sandbox_app(options: SandboxOptions | None = None, gateways: str | None = None) -> Flask:
    """The emulators of the gateways named in `gateways` (as config GATEWAYS; default: Config's).

    Each gateway's plugin names its emulator module; the sandbox imports it, production never.
    """
    from . import control, esim, mail

    here = os.path.dirname(os.path.abspath(__file__))
    app = Flask(
        __name__,
        template_folder=os.path.join(here, "templates"),
        static_folder=None,  # MPGS serves /static/checkout/checkout.min.js itself
    )
    emulated = [
        p for p in plugins({"GATEWAYS": gateways or Config.GATEWAYS}) if p.sandbox is not None
    ]
    env = SandboxEnv(options or SandboxOptions(), tuple(p.name for p in emulated))
    app.extensions["sandbox"] = env
    control.register(app, env)
    for plugin in emulated:
        importlib.import_module(plugin.sandbox).register(app, env)
    esim.register(app, env)
    mail.register(app, env)  # the page; devserver and tests start the SMTP server
    return app
