"""The sandbox's mail catcher: a local SMTP server and a page showing what it received.

`make run` and the tests start `MailServer` (server.py) beside the sandbox app and point the
shop's SMTP settings at it; the page at /_sandbox/mail/ (page.py) reads the same `Mailbox`, so
a receipt can be read with its HTML part rendered and its QR code drawn, with no mail account.

    server.py   the aiosmtpd server and the in-memory Mailbox
    page.py     /_sandbox/mail/ (list), /_sandbox/mail/<n> (one message), its parts and images
"""

from __future__ import annotations

from flask import Flask

from ..env import SandboxEnv
from . import page
from .server import Mailbox, MailServer, Received

__all__ = ["MailServer", "Mailbox", "Received", "mailbox_of", "register"]


def register(app: Flask, env: SandboxEnv) -> None:
    mailbox = Mailbox()
    env.on_reset(mailbox.clear)
    app.extensions["sandbox_mail"] = mailbox
    app.register_blueprint(page.blueprint(mailbox))


def mailbox_of(app: Flask) -> Mailbox:
    """The Mailbox the sandbox app's mail page shows (give it to the MailServer you start)."""
    return app.extensions["sandbox_mail"]
