"""The official `stripe` SDK held to our rules: the call budget, the sweep's rate limit, our errors.

`BudgetedRequestsClient` is the SDK's HTTP client with each attempt's timeouts cut to the call
budget (transport.CallBudget) and every attempt, retries included, taking one of the sweep's
request slots when a sweep sends it (rate_limit.py). `stripe_errors` translates the SDK's
exceptions into what the core must do about them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe

from ..base import (
    GatewayConfigError,
    GatewayError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayUnavailable,
)
from ..rate_limit import before_request, retry_after
from ..transport import CallBudget

log = logging.getLogger(__name__)


def sdk_backoff(retries: int) -> float:
    """The most the SDK sleeps before `retries` retries, in all (its back-off, jitter at most).

    The SDK sleeps before retry n between INITIAL_DELAY and min(INITIAL_DELAY * 2**(n-1),
    MAX_DELAY) seconds; version 16 does not follow Retry-After, so this bound is exact.
    """
    initial, ceiling = stripe.HTTPClient.INITIAL_DELAY, stripe.HTTPClient.MAX_DELAY
    return sum(max(initial, min(initial * 2 ** (n - 1), ceiling)) for n in range(1, retries + 1))


class BudgetedRequestsClient(stripe.RequestsClient):
    """The SDK's requests client held to a CallBudget and, in a sweep, to the rate limit.

    The budget already sized the retries and the timeouts; inside a web request each attempt's
    timeouts are also cut to what the request has left, and a retry that would not fit in it
    is not made (the error of the last attempt is raised instead).
    """

    def __init__(self, budget: CallBudget, **kwargs: Any) -> None:
        self._budget = budget
        super().__init__(timeout=(budget.connect, budget.read), **kwargs)

    @property
    def _timeout(self) -> tuple[float, float]:  # read by the SDK before every attempt
        return self._budget.timeouts()

    @_timeout.setter
    def _timeout(self, value: Any) -> None:
        """The SDK's constructor stores its timeout here; the budget answers instead."""

    def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
        """One attempt; inside a sweep it first waits for one of Stripe's request slots."""
        before_request()
        return super().request(method, url, headers, post_data)

    def _should_retry(
        self, response: Any, api_connection_error: Any, num_retries: int, max_network_retries: Any
    ) -> bool:
        retry = super()._should_retry(
            response, api_connection_error, num_retries, max_network_retries
        )
        return retry and self._budget.room_for_retry(
            sdk_backoff(num_retries + 1) - sdk_backoff(num_retries)
        )


@contextmanager
def stripe_errors(ref: str, action: str, *, rejected: bool) -> Iterator[None]:
    """Translate SDK errors into what the core must do about them."""
    try:
        yield
    except stripe.RateLimitError as exc:
        headers = exc.headers or {}
        wait = retry_after(headers.get("Retry-After") or headers.get("retry-after"))
        raise GatewayRateLimited(f"Stripe {action}: {describe(exc)}", retry_after=wait) from exc
    except stripe.APIConnectionError as exc:
        raise GatewayUnavailable(f"Stripe {action}: {describe(exc)}") from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        log.error("payment %s: Stripe refused our credentials on %s: %s", ref, action, exc)
        raise GatewayConfigError(f"Stripe {action}: {describe(exc)}") from exc
    except (stripe.InvalidRequestError, stripe.IdempotencyError, stripe.CardError) as exc:
        if rejected:
            raise GatewayRejected(f"Stripe {action}: {describe(exc)}") from exc
        # Stripe does not know a session we created: wrong account, or test vs live keys.
        log.error("payment %s: Stripe could not %s the session: %s", ref, action, exc)
        raise GatewayConfigError(f"Stripe {action}: {describe(exc)}") from exc
    except stripe.StripeError as exc:  # APIError (5xx, a body that is not JSON) and the rest
        raise GatewayUnavailable(f"Stripe {action}: {describe(exc)}") from exc
    except GatewayError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise GatewayUnavailable(f"Stripe {action}: unexpected answer ({exc!r})") from exc


def describe(exc: stripe.StripeError) -> str:
    status = f"HTTP {exc.http_status}: " if exc.http_status else ""
    code = f" [{exc.code}]" if exc.code else ""
    return f"{status}{exc.user_message or type(exc).__name__}{code}"
