"""Each gateway's rate limit, kept by the sweep across every process (docs/rate-limits.md).

Every gateway declares how many requests per second it allows us (`Gateway.rate_limit`:
Stripe's documented limits, a setting for the others). The sweep takes at most SWEEP_RATE_SHARE
of it; the rest is left for shoppers. All processes share the count through the limiter storage
(RATELIMIT_STORAGE_URI: Redis in production, memory under `make run`). Shopper-facing calls (a
create, a return or refresh look-up) are neither counted nor delayed: they never wait behind the
sweep's budget.

Paced, then capped. A moving one-second window alone lets the whole share go in a burst as a
window opens; requests granted in a burst just before a window's edge reach the gateway a few ms
later, in the same second as the next burst, so a gateway counting arrivals saw more than its
limit (bench/sweep.py, docs/benchmarks.md). So each request first claims a turn: turns are
1/share seconds apart in wall-clock time, and each is owned by whichever process's atomic `incr`
on its key answers 1 first. The moving window stays behind the turns as the hard cap.

How it is wired: the sweep enters `sweeping(budget)` around each of its gateway calls; every HTTP
request a gateway client sends calls `before_request()` (transport.py, and the Stripe SDK's HTTP
client), which waits for a slot only inside that context. A gateway that answers 429 anyway is
paused for every sweeper (`SweepSlots.pause`, shared through the same storage): waits for a slot
also wait out the pause. A wait is bounded (SWEEP_RATE_WAIT_SECONDS): past it the call raises
GatewayRateLimited and the payment is simply left for a later pass.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from flask import Flask
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .errors import GatewayRateLimited

log = logging.getLogger(__name__)

#: the share of a gateway's limit the sweep may use; the rest is the shoppers' (our choice)
DEFAULT_SHARE = 0.7
#: the longest a sweep call waits for a slot or for a pause to end before giving up (our choice)
DEFAULT_WAIT_SECONDS = 10.0
#: how long a 429 without Retry-After pauses the gateway's sweep (our choice)
DEFAULT_PAUSE_SECONDS = 2.0
#: the share's turns span a second and this much more, so that a turn granted a few ms late
#: (a sleep overslept) is not held back by the moving window behind the turns (our choice)
TURN_SLACK = 0.02
_NAMESPACE = "tollgate-gateway"


@dataclass
class SweepBudget:
    """The slots of one gateway inside one sweep worker thread, and the requests it sent."""

    slots: SweepSlots
    gateway: str
    per_second: int  # the sweep's share of the gateway's limit
    sent: int = 0  # HTTP requests (attempts) let through so far


class NoSlot(GatewayRateLimited):
    """Our own limiter found no request slot in time: the gateway itself did not refuse."""


_current: ContextVar[SweepBudget | None] = ContextVar("tollgate_gateway_budget", default=None)


class SweepSlots:
    """The sweep's per-gateway request budget, shared by every process using `storage_uri`."""

    def __init__(
        self,
        storage_uri: str,
        *,
        share: float = DEFAULT_SHARE,
        max_wait: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        self.share = share
        self.max_wait = max_wait
        self._storage: Storage = storage_from_string(storage_uri)
        self._window = MovingWindowRateLimiter(self._storage)
        # when the shared storage cannot answer, each process keeps its own count meanwhile
        self._fallback = MovingWindowRateLimiter(MemoryStorage())
        self._queues: dict[str, threading.Lock] = {}  # gateway -> this process's waiting line
        self._queues_lock = threading.Lock()

    @classmethod
    def for_app(cls, app: Flask) -> SweepSlots:
        """The app's one SweepSlots, built from its config on first use."""
        slots = app.extensions.get("tollgate_sweep_slots")
        if slots is None:
            slots = app.extensions["tollgate_sweep_slots"] = cls.from_config(app.config)
        return slots

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SweepSlots:
        return cls(
            str(config.get("RATELIMIT_STORAGE_URI") or "memory://"),
            share=float(config.get("SWEEP_RATE_SHARE", DEFAULT_SHARE)),
            max_wait=float(config.get("SWEEP_RATE_WAIT_SECONDS", DEFAULT_WAIT_SECONDS)),
        )

    def budget(self, gateway: str, limit: float) -> SweepBudget:
        """A worker thread's budget for `gateway`, whose limit is `limit` requests a second."""
        return SweepBudget(self, gateway, self.sweep_share(limit))

    def sweep_share(self, limit: float) -> int:
        """Requests per second the sweep may send to a gateway allowing `limit` (at least 1)."""
        return max(1, math.floor(limit * self.share))

    def acquire(self, gateway: str, per_second: int) -> int:
        """Wait for one of the gateway's `per_second` slots, within `max_wait`; the turn's number.

        A slot is a turn (the requests of all processes go about 1/per_second apart, never in a
        burst) that the moving window also lets through (never more than per_second in one).
        Raises NoSlot (a GatewayRateLimited) when the wait would be longer: the caller leaves
        the payment for a later pass, as after a 429. The threads of one process queue for a
        slot one at a time, so a slot freed goes to one waiter per process instead of to a herd
        of them racing for it (where an unlucky thread could lose every race until it gives up).
        """
        give_up = time.monotonic() + self.max_wait
        queue = self._queue(gateway)
        if not queue.acquire(timeout=self.max_wait):
            raise self._no_slot(gateway, None)
        try:
            item = RateLimitItemPerSecond(per_second)
            self._wait(gateway, give_up, lambda: self.paused_for(gateway))
            turn = self._take_turn(gateway, per_second, give_up)
            self._wait(gateway, give_up, lambda: self._hit_or_wait(item, gateway))
            return turn
        finally:
            queue.release()

    def pause(self, gateway: str, seconds: float | None) -> float:
        """Hold every sweeper's requests to `gateway` for `seconds` (after a 429); the pause set."""
        seconds = DEFAULT_PAUSE_SECONDS if seconds is None or seconds <= 0 else seconds
        whole = max(1, math.ceil(seconds))  # the storages keep expiries in whole seconds
        try:
            self._storage.incr(self._pause_key(gateway), whole)
        except self._storage.base_exceptions:
            log.warning("rate-limit storage unavailable; %s pause kept in this process", gateway)
            self._fallback.storage.incr(self._pause_key(gateway), whole)
        log.info("sweep: %s is rate-limiting us, pausing its look-ups for %d s", gateway, whole)
        return float(whole)

    def paused_for(self, gateway: str) -> float:
        """Seconds left of a pause of `gateway`'s sweep; 0 when it is not paused."""
        key = self._pause_key(gateway)
        for storage in (self._storage, self._fallback.storage):
            try:
                if storage.get(key) > 0:
                    return max(0.0, storage.get_expiry(key) - time.time())
            except storage.base_exceptions:
                continue
        return 0.0

    def _wait(self, gateway: str, give_up: float, wait_for: Callable[[], float]) -> None:
        """Sleep until `wait_for` answers 0 (it answers how long to wait); NoSlot past `give_up`."""
        while (wait := wait_for()) > 0:
            if wait > give_up - time.monotonic():
                raise self._no_slot(gateway, wait)
            time.sleep(wait)

    def _take_turn(self, gateway: str, per_second: int, give_up: float) -> int:
        """Claim the first free turn of the gateway's sweep, in every process, and wait for it.

        Turn i starts at i * interval seconds of the Unix clock (the processes' clocks are kept
        in step by NTP), the interval a little over 1/per_second (TURN_SLACK). The turn under
        way is taken at once when nobody has it, so an idle sweep does not wait; otherwise the
        next free one is claimed and waited for. A turn that would start past `give_up` is not
        claimed (NoSlot): it stays free for another process.
        """
        interval = (1.0 + TURN_SLACK) / per_second
        turn = math.floor(time.time() / interval)
        while True:
            wait = turn * interval - time.time()
            if wait > give_up - time.monotonic():
                raise self._no_slot(gateway, wait)
            key = f"{_NAMESPACE}/turn/{gateway}/{per_second}/{turn}"
            if self._claim(key, expiry=max(0, math.ceil(wait)) + 2):
                break
            turn += 1
        time.sleep(max(0.0, turn * interval - time.time()))
        return turn

    def _claim(self, key: str, expiry: int) -> bool:
        """Whether this caller is the first to count `key` (atomic in the storage)."""
        try:
            return self._storage.incr(key, expiry) == 1
        except self._storage.base_exceptions:
            log.warning("rate-limit storage unavailable; pacing the sweep in this process")
            return self._fallback.storage.incr(key, expiry) == 1

    def _hit_or_wait(self, item: RateLimitItemPerSecond, gateway: str) -> float:
        """0 when the moving window took the request, else seconds until it may (the cap)."""
        try:
            if self._window.hit(item, _NAMESPACE, gateway):
                return 0.0
            stats = self._window.get_window_stats(item, _NAMESPACE, gateway)
        except self._storage.base_exceptions:
            log.warning("rate-limit storage unavailable; counting %s in this process", gateway)
            if self._fallback.hit(item, _NAMESPACE, gateway):
                return 0.0
            stats = self._fallback.get_window_stats(item, _NAMESPACE, gateway)
        return max(0.005, stats.reset_time - time.time())

    def _no_slot(self, gateway: str, retry_after: float | None) -> NoSlot:
        return NoSlot(f"no {gateway} request slot within {self.max_wait:g} s", retry_after)

    def _queue(self, gateway: str) -> threading.Lock:
        with self._queues_lock:
            return self._queues.setdefault(gateway, threading.Lock())

    @staticmethod
    def _pause_key(gateway: str) -> str:
        return f"{_NAMESPACE}/pause/{gateway}"


@contextmanager
def sweeping(budget: SweepBudget) -> Iterator[SweepBudget]:
    """Within this block, this thread's requests wait for the budget's slots and are counted.

    Enter it around the sweep's gateway calls only: anything else the thread sends meanwhile
    (a fulfilment delivery after a payment completes) would take the gateway's slots.
    """
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def before_request() -> None:
    """Called before every HTTP request to a gateway: waits for a slot inside a sweep only."""
    budget = _current.get()
    if budget is not None:
        budget.slots.acquire(budget.gateway, budget.per_second)
        budget.sent += 1


def retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds (RFC 9110: delay-seconds or an HTTP-date); None if unread."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
