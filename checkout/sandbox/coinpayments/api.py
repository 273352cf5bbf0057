"""`POST /api.php`: HMAC auth over the raw body, and the envelope every answer comes in.

Faithful to protocols.md A.1-A.3, not to our client: the HMAC is checked over the body bytes as
received (chunked bodies too), and errors are HTTP 200 envelopes `{"error": "...", "result": []}`
checked in the real API's order, so a client that trusts the HTTP status is caught out here too.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, request

from .. import credentials
from ..common import json_response, with_knobs
from .commands import COMMANDS
from .store import NAME, Store

ACCOUNT = credentials.COINPAYMENTS

ERR_NO_HMAC = "No HMAC signature sent."
ERR_BAD_KEY = "Invalid API public key passed!"
ERR_BAD_HMAC = "HMAC signature does not match"
ERR_VERSION = "Invalid API version - only version 1 is supported!"
ERR_COMMAND = "Invalid command!"
ERR_PERMISSION = "This API Key does not have permission to use that command!"


def blueprint(store: Store) -> Blueprint:
    bp = Blueprint("sandbox_coinpayments_api", __name__)

    @bp.post("/api.php")
    @with_knobs(store.env, NAME, _throttled)
    def api() -> Response:
        raw = request.get_data(cache=True)  # the bytes as received, de-chunked by the server
        try:
            form = _parse(raw)
        except ValueError:
            return _error("Invalid request")
        refusal = _refusal(form, raw, store.settings.denied_commands)
        if refusal is not None:
            return _error(refusal)
        with store.lock:
            outcome = COMMANDS[form["cmd"]](store, form)
            if isinstance(outcome, str):
                return _error(outcome)
            if store.settings.stringify_numbers:
                outcome = _stringify(outcome)
        return _ok(outcome)

    return bp


def _refusal(form: dict[str, str], raw: bytes, denied: list[str]) -> str | None:
    """Why the call is refused before any command runs, checked in the real API's order."""
    signature = request.headers.get("HMAC", "").strip().lower()
    if not signature:
        return ERR_NO_HMAC
    if form.get("key") != ACCOUNT["public_key"]:
        return ERR_BAD_KEY
    expected = hmac.new(ACCOUNT["private_key"].encode(), raw, hashlib.sha512).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return ERR_BAD_HMAC
    if form.get("version") != "1":
        return ERR_VERSION
    if form.get("format", "json") != "json":
        return "The sandbox answers format=json only"
    cmd = form.get("cmd", "")
    if cmd not in COMMANDS:
        return ERR_COMMAND
    if cmd in denied:
        return ERR_PERMISSION
    return None


def _parse(raw: bytes) -> dict[str, str]:
    """The form fields; ValueError for a body that is not UTF-8 or has too many fields."""
    pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    return dict(pairs)


def _stringify(value: Any) -> Any:
    """Integers as strings, as some live answers send them (`"status": "0"`)."""
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _ok(result: Any) -> Response:
    return json_response({"error": "ok", "result": result})


def _error(message: str) -> Response:
    return json_response({"error": message, "result": []})


def _throttled() -> Response:
    """What the error_rate / timeout_rate knobs answer: CoinPayments' own throttle envelope."""
    return _error(
        f"Too many errors in the last two minutes from {request.remote_addr}: "
        "please fix your code and try again"
    )
