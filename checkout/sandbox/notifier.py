"""Delivers signed notifications the way gateways do: in the background, retried on failure.

A delivery counts as done on any 2xx answer; anything else (4xx, 5xx, refused connection,
timeout) is retried after the next delay in the schedule, up to the attempt limit. Every
attempt is logged so tests can see what the site answered.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    gateway: str
    url: str
    body: bytes
    #: builds the headers for attempt n (1-based); signatures may depend on the attempt
    headers: Callable[[int], dict[str, str]]
    max_attempts: int
    attempts: list[tuple[int, int | str]] = field(default_factory=list)  # (attempt, status/error)
    done: bool = False


class Notifier:
    def __init__(self, retry_delays: tuple[float, ...]) -> None:
        self.retry_delays = retry_delays or (1.0,)
        self.log: list[Delivery] = []
        self._queue: queue.PriorityQueue[tuple[float, int, Delivery]] = queue.PriorityQueue()
        self._counter = 0
        self._lock = threading.Lock()
        self._busy = 0
        self._idle = threading.Condition(self._lock)
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="sandbox-notifier", daemon=True)
        self._thread.start()

    def send(
        self,
        gateway: str,
        url: str,
        body: bytes,
        headers: Callable[[int], dict[str, str]],
        max_attempts: int,
    ) -> Delivery:
        delivery = Delivery(gateway, url, body, headers, max_attempts)
        with self._lock:
            self.log.append(delivery)
            self._busy += 1
            self._counter += 1
            self._queue.put((time.monotonic(), self._counter, delivery))
        return delivery

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has succeeded or given up (tests use this)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def clear(self) -> None:
        with self._lock:
            self.log = []

    def _run(self) -> None:
        while True:
            due, _, delivery = self._queue.get()
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, 0.05))
                self._queue.put((due, _, delivery))
                continue
            self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        attempt = len(delivery.attempts) + 1
        try:
            response = self._session.post(
                delivery.url, data=delivery.body, headers=delivery.headers(attempt), timeout=10
            )
            outcome: int | str = response.status_code
            ok = 200 <= response.status_code < 300
        except requests.RequestException as exc:
            outcome, ok = type(exc).__name__, False
        delivery.attempts.append((attempt, outcome))
        log.info(
            "sandbox %s notification to %s attempt %d: %s",
            delivery.gateway,
            delivery.url,
            attempt,
            outcome,
        )
        if not ok and attempt < delivery.max_attempts:
            delay = self.retry_delays[min(attempt - 1, len(self.retry_delays) - 1)]
            with self._lock:
                self._counter += 1
                self._queue.put((time.monotonic() + delay, self._counter, delivery))
            return
        delivery.done = ok
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()
