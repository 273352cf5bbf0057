"""What the gateway emulators share: knobs, a clock that tests can move, and a notifier.

Knobs are per gateway and can be set at start (SandboxOptions) or at run time with
`POST /_sandbox/knobs`. They make the emulators misbehave the way real gateways do: slow
answers, errors in the gateway's own error shape, answers that never come, bodies that are not
JSON, and notifications that are never sent.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response

from .notifier import Notifier


@dataclass
class Knobs:
    latency_ms: int = 0  # added to every API answer
    error_rate: float = 0.0  # share of API calls answered with the gateway's error
    timeout_rate: float = 0.0  # share of API calls that hang for hang_seconds
    hang_seconds: float = 30.0
    malformed_rate: float = 0.0  # share of API calls answered with a body that is not JSON
    throttle_rate: float = 0.0  # share of API calls answered with the gateway's own 429
    notifications: bool = True  # send IPNs / webhooks at all
    notify_attempts: int = 10  # deliveries tried before giving up

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown knob {key!r}")
            current = getattr(self, key)
            setattr(self, key, type(current)(value))


class Clock:
    """Real time plus an offset that tests advance instead of sleeping."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def timestamp(self) -> int:
        return int(self.now().timestamp())

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta()


@dataclass
class SandboxOptions:
    #: per gateway, the notification URL set in its dashboard or merchant admin (Stripe has no
    #: per-session URL; MPGS uses it when order.notificationUrl is absent)
    notification_urls: dict[str, str] = field(default_factory=dict)
    #: seconds between notification retries (the last value repeats)
    retry_delays: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)
    seed: int | None = None
    knobs: dict[str, dict[str, Any]] = field(default_factory=dict)


class SandboxEnv:
    def __init__(self, options: SandboxOptions, gateways: tuple[str, ...]) -> None:
        self.gateways = gateways
        self._initial_options = replace(options, notification_urls=dict(options.notification_urls))
        self.options = options
        self.clock = Clock()
        self.random = random.Random(options.seed)
        self.knobs = {name: Knobs() for name in self.gateways}
        for name, values in options.knobs.items():
            self.knobs[name].update(values)
        self.notifier = Notifier(options.retry_delays)
        self._reset_hooks: list[Callable[[], None]] = []

    def on_reset(self, hook: Callable[[], None]) -> None:
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Forget every payment; put the knobs, the clock and the options back (between tests)."""
        self.options = replace(
            self._initial_options, notification_urls=dict(self._initial_options.notification_urls)
        )
        self.knobs = {name: Knobs() for name in self.gateways}
        self.clock.reset()
        self.notifier.clear()
        for hook in self._reset_hooks:
            hook()

    def misbehave(
        self,
        gateway: str,
        error: Callable[[], Response],
        throttled: Callable[[], Response] | None = None,
    ) -> Response | None:
        """Apply the gateway's knobs to one API call: a Response to send instead, or None.

        `throttled` builds the gateway's "too many requests" answer, for the throttle_rate knob.
        """
        knobs = self.knobs[gateway]
        if knobs.latency_ms:
            time.sleep(knobs.latency_ms / 1000)
        roll = self.random.random()
        if throttled is not None and roll < knobs.throttle_rate:
            return throttled()
        roll -= knobs.throttle_rate if throttled is not None else 0.0
        if roll < knobs.timeout_rate:
            time.sleep(knobs.hang_seconds)
            return error()
        roll -= knobs.timeout_rate
        if roll < knobs.error_rate:
            return error()
        roll -= knobs.error_rate
        if roll < knobs.malformed_rate:
            return Response("<html><body>502 Bad Gateway</body></html>", 200, mimetype="text/html")
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "knobs": {name: asdict(k) for name, k in self.knobs.items()},
            "clock": self.clock.now().isoformat(),
        }
