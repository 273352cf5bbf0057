"""Every gateway call timed and counted, in one place: the client `registry.get_gateway` hands out.

`MeteredGateway` wraps a gateway client. The five operations that talk to the gateway
(OPERATIONS) are timed and counted by outcome in `tollgate_gateway_calls_total`; everything
else (its name, `parse_notification`, `check_return`, `transport`, ...) is read from and written
to the client itself, so callers and tests use the wrapper as they used the client.

Calls a client makes to itself (the default `fetch_statuses` asking one payment at a time, the
default `expire` looking the payment up) go to the client, not through the wrapper, so each
operation the core asks for is counted once, with the time it took as a whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ..metrics import record as metrics
from ..money import Money
from .base import (
    CheckoutSession,
    Gateway,
    GatewayConfigError,
    GatewayError,
    GatewayRateLimited,
    GatewayUnavailable,
    Observation,
    RefundResult,
    ReturnUrls,
)

if TYPE_CHECKING:
    from ..models import Payment

OPERATIONS = frozenset({"create_checkout", "fetch_status", "fetch_statuses", "expire", "refund"})

T = TypeVar("T")


def outcome_of(error: BaseException | None) -> str:
    """The outcome label for a call that raised `error` (None: it answered).

    The most specific class first: a 429 is also "unavailable" to the core, but an operator
    reads it apart from an outage. An exception that is no GatewayError is a bug in the client.
    """
    if error is None:
        return "ok"
    if isinstance(error, GatewayRateLimited):
        return "rate_limited"
    if isinstance(error, GatewayUnavailable):
        return "unavailable"
    if isinstance(error, GatewayConfigError):
        return "config_error"
    if isinstance(error, GatewayError):
        return "rejected"
    return "error"


def batch_outcome(results: dict[str, Observation | GatewayError]) -> str:
    """A batch look-up answers per payment: it failed as a call only when nothing came back.

    One bad id among good answers is that payment's problem (the sweep backs it off); a batch
    whose every entry is an error means the gateway did not answer, as a single call would.
    """
    errors = [value for value in results.values() if isinstance(value, GatewayError)]
    if results and len(errors) == len(results):
        return outcome_of(errors[0])
    return "ok"


class MeteredGateway:
    """A gateway client whose calls to the gateway are timed and counted (see the module)."""

    # The one attribute of its own besides the operations, named so no client's can clash.
    _metered: Gateway

    def __init__(self, client: Gateway) -> None:
        object.__setattr__(self, "_metered", client)

    def __getattr__(self, name: str) -> Any:
        if name == "_metered":  # not set yet (a copy being made): no endless recursion
            raise AttributeError(name)
        return getattr(self._metered, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # An operation replaced from outside (a test wrapping `expire`) replaces the wrapper's,
        # so a replacement that calls the original still goes through the count once. Anything
        # else is the client's own state (its transport, a wrapped request method).
        if name in OPERATIONS:
            object.__setattr__(self, name, value)
        else:
            setattr(self._metered, name, value)

    def __delattr__(self, name: str) -> None:
        if name in self.__dict__:
            object.__delattr__(self, name)
        else:
            delattr(self._metered, name)

    def __repr__(self) -> str:
        return f"MeteredGateway({self._metered!r})"

    def create_checkout(self, payment: Payment, urls: ReturnUrls) -> CheckoutSession:
        return self._timed("create_checkout", self._metered.create_checkout, payment, urls)

    def fetch_status(self, payment: Payment) -> Observation:
        return self._timed("fetch_status", self._metered.fetch_status, payment)

    def fetch_statuses(self, payments: Iterable[Payment]) -> dict[str, Observation | GatewayError]:
        started = time.perf_counter()
        try:
            results = self._metered.fetch_statuses(payments)
        except Exception as exc:
            self._count("fetch_statuses", outcome_of(exc), started)
            raise
        self._count("fetch_statuses", batch_outcome(results), started)
        return results

    def expire(self, payment: Payment) -> Observation:
        return self._timed("expire", self._metered.expire, payment)

    def refund(self, payment: Payment, amount: Money) -> RefundResult:
        return self._timed("refund", self._metered.refund, payment, amount)

    def _timed(self, operation: str, method: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            answer = method(*args)
        except Exception as exc:
            self._count(operation, outcome_of(exc), started)
            raise
        self._count(operation, "ok", started)
        return answer

    def _count(self, operation: str, outcome: str, started: float) -> None:
        metrics.gateway_call(self._metered.name, operation, outcome, time.perf_counter() - started)
