"""The kick: run the outbox right after a paying request commits, without making it wait.

The outbox worker (the scheduler job, `flask outbox run`) is the guarantee; the kick only makes
the happy path instant. Each app gets one `Kicker`: at most one background thread per process,
never more than one pass in flight. A kick that arrives while a pass runs is remembered and
served by one more pass, so a job committed during a pass is not left for the scheduler.
Failures are logged and never reach the request that kicked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask

log = logging.getLogger(__name__)

_EXTENSION = "tollgate_outbox_kicker"


class Kicker:
    """Runs `drain` in a background thread with its own app context, one pass at a time."""

    def __init__(self, app: Flask, drain: Callable[[], int]) -> None:
        self._app = app
        self._drain = drain
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition(self._lock)

    def kick(self) -> None:
        with self._lock:
            self._wanted = True
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="outbox-kick", daemon=True)
            self._thread.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no pass runs and none is asked for (tests and shutdown use this)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._thread is None, timeout)

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._thread = None
                    self._idle.notify_all()
                    return
                self._wanted = False
            try:
                with self._app.app_context():
                    self._drain()
            except Exception:
                log.exception("outbox kick failed; the scheduled worker will retry")


def kicker_for(app: Flask, drain: Callable[[], int]) -> Kicker:
    """The app's kicker, created on first use."""
    kicker = app.extensions.get(_EXTENSION)
    if kicker is None:
        kicker = app.extensions.setdefault(_EXTENSION, Kicker(app, drain))
    return kicker
