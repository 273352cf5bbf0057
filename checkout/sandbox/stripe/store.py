"""Stripe objects in memory: sessions, payment intents, charges, refunds, idempotent answers.

Objects are kept as the dicts the API returns (keys starting with `_` are ours and never sent);
lifecycle.py moves them from state to state.
"""

from __future__ import annotations

import threading
from typing import Any

from ..env import SandboxEnv
from .errors import no_such

NAME = "stripe"
API_VERSION = "2026-10-28.endive"  # what objects and events are rendered as


class StripeSandbox:
    """The emulator's state: sessions, payment intents, charges, refunds, idempotent answers."""

    def __init__(self, env: SandboxEnv) -> None:
        self.env = env
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.sessions: dict[str, dict[str, Any]] = {}
            self.intents: dict[str, dict[str, Any]] = {}
            self.charges: dict[str, dict[str, Any]] = {}
            self.refunds: dict[str, dict[str, Any]] = {}
            self.line_items: dict[str, list[dict[str, Any]]] = {}
            self.settlements: dict[str, tuple[int, bool]] = {}  # session id -> (due, succeeds)
            # Idempotency-Key -> (endpoint, params, the answer first given)
            self.idempotent: dict[str, tuple[str, Any, dict[str, Any]]] = {}

    def session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise no_such("checkout.session", session_id, "session")
        return session

    def render(self, session: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        """The session as the API returns it, with the `expand`ed objects inlined."""
        body = {k: v for k, v in session.items() if not k.startswith("_")}
        if "payment_intent" in expand and body["payment_intent"]:
            body["payment_intent"] = dict(self.intents[body["payment_intent"]])
        if "line_items" in expand:
            body["line_items"] = {
                "object": "list",
                "data": self.line_items[session["id"]],
                "has_more": False,
                "url": f"/v1/checkout/sessions/{session['id']}/line_items",
            }
        return body
