"""Mechanics the gateway emulators share, where the three really do the same thing.

Only plumbing lives here: the knobs wrapped around an API view, queueing a notification, a JSON
body written the way the emulators always wrote it, random identifiers, the Luhn check and the
sandbox-only helper routes. Each gateway's own vocabulary (error shapes, auth, signatures,
field names) stays in its package: the protocols only look alike from a distance.
"""

from __future__ import annotations

import functools
import json
import secrets
import string
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, request

from .env import SandboxEnv

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits

View = TypeVar("View", bound=Callable[..., Any])


def with_knobs(
    env: SandboxEnv,
    gateway: str,
    error: Callable[[], Response],
    throttled: Callable[[], Response] | None = None,
) -> Callable[[View], View]:
    """Make an API view misbehave as the gateway's knobs say before it runs.

    `error` builds the gateway's own failure answer (called inside the request), so a test that
    turns up `error_rate` sees what the real gateway sends when it is in trouble; `throttled`
    its own 429, for `throttle_rate`.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            trouble = env.misbehave(gateway, error, throttled)
            if trouble is not None:
                return trouble
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def deliver(
    env: SandboxEnv,
    gateway: str,
    url: str,
    body: bytes,
    headers: Callable[[int], dict[str, str]],
) -> bool:
    """Queue a notification with retries; False when there is no URL or the knobs turned them off.

    `headers` is asked again on every attempt, for gateways whose signature or attempt counter
    changes between retries.
    """
    knobs = env.knobs[gateway]
    if not url or not knobs.notifications:
        return False
    env.notifier.send(gateway, url, body, headers, max(1, knobs.notify_attempts))
    return True


def json_response(body: Any, status: int = 200) -> Response:
    """`body` as `json.dumps` writes it, keys in the order built.

    Not `jsonify`: that sorts keys and adds a newline, and these bytes are what the gateway
    clients and their tests have always been given.
    """
    return Response(json.dumps(body), status, mimetype="application/json")


def random_id(prefix: str, length: int, alphabet: str = ALNUM) -> str:
    """`prefix` and `length` random characters: ids shaped like the gateway's own."""
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def luhn_ok(number: str) -> bool:
    """The check digit every real card number carries (both card pages refuse a typo with it)."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(number)):
        value = int(digit)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


#: (HTTP status, body text, content type) of an answer a test queued for the next API call
ForcedAnswer = tuple[int, str, str]


def helper_blueprint(gateway: str) -> Blueprint:
    """Routes under `/_sandbox/<gateway>` for tests to use; a real gateway has nothing like them."""
    return Blueprint(f"sandbox_{gateway}_control", __name__, url_prefix=f"/_sandbox/{gateway}")


def helper_json() -> dict[str, Any]:
    """The JSON body of a sandbox-only helper call, whatever its Content-Type; empty means {}."""
    return request.get_json(force=True) or {}


def forced_answer(default_body: Any = "", content_type: str = "application/json") -> ForcedAnswer:
    """A helper call's "answer the next API call with exactly this" (status, body, type)."""
    spec = helper_json()
    body = spec.get("body", default_body)
    text = body if isinstance(body, str) else json.dumps(body)
    return int(spec.get("status", 200)), text, spec.get("content_type", content_type)
