"""`make run`: the site, the gateway sandbox beside it, and the in-process sweep scheduler.

The sandbox listens on SANDBOX_PORT (default PORT + 1) and every gateway without live
credentials in the environment is pointed at it, so a new user can click through all three
gateways with no accounts anywhere. Without SMTP_HOST, mail goes to the sandbox's local SMTP
server and is read at <sandbox>/_sandbox/mail/.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from . import create_app, scheduler
from .gateways.registry import names
from .sandbox import create_sandbox_app
from .sandbox.env import SandboxOptions
from .sandbox.mail import MailServer, mailbox_of
from .sandbox.server import ThreadedServer

log = logging.getLogger(__name__)


def main() -> None:
    port = int(os.environ.get("PORT", "5000"))
    sandbox_port = int(os.environ.get("SANDBOX_PORT", str(port + 1)))
    site = f"http://127.0.0.1:{port}"
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    app = create_app(
        "development",
        {
            "TOLLGATE_SANDBOX_URL": os.environ.get("TOLLGATE_SANDBOX_URL") or sandbox_url,
            "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL") or site,
        },
    )
    gateways = app.config["GATEWAYS"]
    hooks = {name: f"{site}/ipn/{name}" for name in names(app.config)}
    sandbox_app = create_sandbox_app(SandboxOptions(notification_urls=hooks), gateways)
    sandbox = ThreadedServer(sandbox_app, port=sandbox_port).start()
    if not app.config["SMTP_HOST"]:
        _catch_mail(app, sandbox_app, sandbox.url)
    if app.config["SCHEDULER_ENABLED"]:
        scheduler.start(app)
    log.info(
        "sandbox gateways at %s (%s)",
        sandbox.url,
        ", ".join(app.config.get("SANDBOXED_GATEWAYS", [])) or "none",
    )
    log.info("Tollgate at %s", site)
    app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False)


def _catch_mail(app: Flask, sandbox_app: Flask, sandbox_url: str) -> None:
    """No SMTP server configured: send mail to the sandbox's, shown on its mail page."""
    server = MailServer(mailbox_of(sandbox_app)).start()
    app.config.update(SMTP_HOST=server.host, SMTP_PORT=server.port, SMTP_STARTTLS=False)
    app.config.update(SMTP_USERNAME="", SMTP_PASSWORD="")
    log.info(
        "mail goes to the sandbox's SMTP server %s:%s, read at %s/_sandbox/mail/",
        server.host,
        server.port,
        sandbox_url,
    )


if __name__ == "__main__":
    main()
