"""`make run`: the site, the gateway sandbox beside it, and the in-process sweep scheduler.

The sandbox listens on SANDBOX_PORT (default PORT + 1) and every gateway without live
credentials in the environment is pointed at it, so a new user can click through all three
gateways with no accounts anywhere.
"""

from __future__ import annotations

import logging
import os

from . import create_app, scheduler
from .gateways.registry import names
from .sandbox import create_sandbox_app
from .sandbox.env import SandboxOptions
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
    sandbox = ThreadedServer(
        create_sandbox_app(SandboxOptions(notification_urls=hooks), gateways), port=sandbox_port
    ).start()
    if app.config["SCHEDULER_ENABLED"]:
        scheduler.start(app)
    log.info(
        "sandbox gateways at %s (%s)",
        sandbox.url,
        ", ".join(app.config.get("SANDBOXED_GATEWAYS", [])) or "none",
    )
    log.info("Tollgate at %s", site)
    app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
