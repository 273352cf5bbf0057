"""Who asked the emulators what: a WSGI middleware that counts API calls and look-ups.

The sweep's promises are about gateway traffic (each due payment looked up exactly once per
round, however many sweepers run; a batch API used where there is one), so they are checked
where the traffic arrives, at the sandbox, not by trusting the clients' own counters. Within
`with Traffic(sandbox_app) as traffic:` every request the emulators' API blueprints answer
(`sandbox_<gateway>_api`) is counted per gateway and per endpoint, and the payments it looked up
are counted by the gateway's own key for them:

    coinpayments  txn id (`get_tx_info`, `get_tx_info_multi`: the `txid` field, `|`-separated)
    mpgs          order id, which is our payment ref (Retrieve Order)
    stripe        Checkout Session id: every session in the answer of a GET (a retrieve, a
                  list page, the events list), so a list call counts for each session it shows
    copyandpay    checkout id (`/v1/checkouts/<id>/payment`) or our ref (`/v1/query`)

The arrival time of every call is kept too, so `busiest_second` can tell whether a rate
limit held. `hold()` makes API calls wait until `let_go()`, so a test can start two sweepers
and let their look-ups through together. Sandbox-only: production never imports it.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_API_SUFFIX = "_api"
_PREFIX = "sandbox_"
_LOOKUP_COMMANDS = ("get_tx_info", "get_tx_info_multi")


class Traffic:
    """Counts the API calls reaching `app`'s emulators; thread-safe, `reset()` between rounds."""

    def __init__(self, app: Flask, hold_timeout: float = 60.0) -> None:
        self.app = app
        self.wrapped: WsgiApp = app.wsgi_app
        self.hold_timeout = hold_timeout
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self.calls: Counter[str] = Counter()  # gateway -> API calls
        self.endpoints: Counter[str] = Counter()  # "gateway endpoint" -> API calls
        self.lookups: dict[str, Counter[str]] = {}  # gateway -> key -> times looked up
        self.arrivals: dict[str, list[float]] = {}  # gateway -> time.monotonic() of each call

    def __enter__(self) -> Traffic:
        """Count from now on (the sandbox app may already be serving)."""
        self.app.wsgi_app = self  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.let_go()
        self.app.wsgi_app = self.wrapped  # type: ignore[method-assign]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.endpoints.clear()
            self.lookups.clear()
            self.arrivals.clear()

    def hold(self) -> None:
        """API calls wait (up to hold_timeout) from now until `let_go()`."""
        self._open.clear()

    def let_go(self) -> None:
        self._open.set()

    def busiest_second(self, gateway: str, since: float = 0.0) -> int:
        """The most calls to `gateway` that arrived within any one second, from `since` on
        (a time.monotonic() value): what a rate limit per second is checked against."""
        with self._lock:
            times = sorted(t for t in self.arrivals.get(gateway, []) if t >= since)
        most, first = 0, 0
        for last, arrived in enumerate(times):
            while arrived - times[first] >= 1.0:
                first += 1
            most = max(most, last - first + 1)
        return most

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        route = self._route(environ)
        if route is None:
            return self.wrapped(environ, start_response)
        gateway, endpoint, args = route
        body = _buffer_body(environ)
        with self._lock:
            self.arrivals.setdefault(gateway, []).append(time.monotonic())
        self._open.wait(self.hold_timeout)
        result = self.wrapped(environ, start_response)
        try:
            answer = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        keys = _looked_up(gateway, endpoint, args, environ, body, answer)
        with self._lock:
            self.calls[gateway] += 1
            self.endpoints[f"{gateway} {endpoint}"] += 1
            self.lookups.setdefault(gateway, Counter()).update(keys)
        return [answer]

    def _route(self, environ: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
        """(gateway, endpoint, view args) of an emulator API call, or None for anything else."""
        try:
            endpoint, args = self.app.url_map.bind_to_environ(environ).match()
        except (HTTPException, RequestRedirect):
            return None
        blueprint, _, view = endpoint.partition(".")
        if not (blueprint.startswith(_PREFIX) and blueprint.endswith(_API_SUFFIX)):
            return None
        return blueprint[len(_PREFIX) : -len(_API_SUFFIX)], view, args


def _buffer_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so the emulator still reads every byte."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _looked_up(
    gateway: str,
    endpoint: str,
    args: dict[str, Any],
    environ: dict[str, Any],
    body: bytes,
    answer: bytes,
) -> list[str]:
    """The gateway's keys of the payments one API call looked up (see the module docstring)."""
    if gateway == "coinpayments":
        form = parse_qs(body.decode("utf-8", "replace"))
        if form.get("cmd", [""])[0] not in _LOOKUP_COMMANDS:
            return []
        return [key for value in form.get("txid", []) for key in value.split("|") if key]
    if gateway == "mpgs":
        return [args["order_id"]] if endpoint == "retrieve_order" else []
    if gateway == "copyandpay":
        if endpoint == "checkout_payment":
            return [args["checkout_id"]]
        if endpoint == "query":
            return parse_qs(environ.get("QUERY_STRING", "")).get("merchantTransactionId", [])
        return []
    if gateway == "stripe" and environ.get("REQUEST_METHOD") == "GET":
        try:
            return list(_sessions_in(json.loads(answer)))
        except ValueError:
            return []
    return []


def _sessions_in(value: Any) -> Iterable[str]:
    """Ids of every Checkout Session object anywhere in a Stripe answer."""
    if isinstance(value, dict):
        if value.get("object") == "checkout.session" and isinstance(value.get("id"), str):
            yield value["id"]
        for item in value.values():
            yield from _sessions_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _sessions_in(item)
