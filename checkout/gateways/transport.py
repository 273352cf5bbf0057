"""HTTP plumbing shared by the gateways that speak plain HTTP (CoinPayments, MPGS, COPYandPAY).

It turns every way a call can go wrong in transit (timeout, refused connection, 5xx, a body that
is not JSON) into GatewayUnavailable, and a 429 into GatewayRateLimited with the gateway's
Retry-After, so gateway modules only handle answers that mean something. Inside a sweep each
request first waits for one of the gateway's slots (rate_limit.py).
Numbers in JSON bodies are parsed as Decimal so money never passes through a float.

It also owns the time budget (docs/operations.md): GATEWAY_TOTAL_SECONDS bounds one gateway
call, all attempts and back-off included (`CallBudget`), and, inside a web request, all the
gateway calls of that request together, so the web worker's timeout (gunicorn.conf.py) can be
set above the worst request by construction.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
from flask import current_app, g, has_request_context
from requests.adapters import HTTPAdapter

from .base import GatewayRateLimited, GatewayUnavailable
from .rate_limit import before_request, retry_after

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Any  # parsed JSON
    headers: dict[str, str]


# for a bare config mapping (a gateway built by hand); the app's Config says the same
DEFAULT_TOTAL_SECONDS = 20.0
DEFAULT_CONNECT_SECONDS = 3.05
DEFAULT_READ_SECONDS = 15.0
# An attempt keeps at least this much read time (or the configured read timeout, if smaller):
# fewer attempts that can each be answered beat many that all time out.
MIN_READ_SECONDS = 5.0


def no_backoff(retries: int) -> float:
    """The back-off of a client that never retries."""
    return 0.0


@dataclass(frozen=True)
class CallBudget:
    """How one gateway call may spend GATEWAY_TOTAL_SECONDS: attempts, timeouts and back-off.

    Built by `call_budget`, so that `worst_case` never exceeds `total`. Inside a web request
    the timeouts of each attempt are further cut to what the request has left (`timeouts`).
    """

    total: float  # GATEWAY_TOTAL_SECONDS
    connect: float  # connect timeout of one attempt
    read: float  # read timeout of one attempt (between bytes, as requests measures it)
    attempts: int = 1
    backoff: float = 0.0  # the most all sleeps between the attempts add up to

    @property
    def retries(self) -> int:
        return self.attempts - 1

    @property
    def worst_case(self) -> float:
        """Seconds the call can take at most: every attempt timing out, every back-off slept."""
        return self.attempts * (self.connect + self.read) + self.backoff

    def timeouts(self) -> tuple[float, float]:
        """(connect, read) for the next attempt, never past what the current request has left.

        Raises GatewayUnavailable when the request has no time left for another attempt.
        """
        left = request_time_left()
        if left is None:
            return self.connect, self.read
        if left <= 0:
            raise GatewayUnavailable("no time left in this request's gateway budget")
        connect = min(self.connect, left / 2)
        return connect, min(self.read, left - connect)

    def room_for_retry(self, sleep: float) -> bool:
        """Whether a retry after sleeping `sleep` still fits in the current request's budget."""
        left = request_time_left()
        return left is None or left - sleep >= min(self.connect + self.read, 1.0)


def call_budget(
    config: Mapping[str, Any],
    *,
    attempts: int = 1,
    backoff: Callable[[int], float] = no_backoff,
) -> CallBudget:
    """One call's budget from the config: attempts and back-off within GATEWAY_TOTAL_SECONDS.

    `attempts` is what the client would like (1 + its retries); `backoff(retries)` the most its
    sleeps add up to before that many retries. Retries are dropped while an attempt would get
    less than MIN_READ_SECONDS of read time; a single attempt that does not fit has its
    timeouts cut to the total.
    """
    total = float(config.get("GATEWAY_TOTAL_SECONDS") or DEFAULT_TOTAL_SECONDS)
    if total <= 0:
        raise ValueError("GATEWAY_TOTAL_SECONDS must be positive")
    connect = float(config.get("GATEWAY_CONNECT_TIMEOUT", DEFAULT_CONNECT_SECONDS))
    read = float(config.get("GATEWAY_READ_TIMEOUT", DEFAULT_READ_SECONDS))
    floor = min(read, MIN_READ_SECONDS)
    attempts = max(1, attempts)
    while attempts > 1 and (total - backoff(attempts - 1)) / attempts - connect < floor:
        attempts -= 1
    share = (total - backoff(attempts - 1)) / attempts
    connect = min(connect, share / 2)
    read = min(read, share - connect)
    return CallBudget(total, connect, read, attempts, backoff(attempts - 1))


def request_time_left() -> float | None:
    """Seconds the current web request may still spend on gateways; None outside a request.

    The clock (GATEWAY_TOTAL_SECONDS) starts at the request's first gateway call, so a request
    that calls a gateway twice (a refund that first looks the payment up) spends at most that
    on both together.
    The sweep's threads and the CLI run without a request: each call has its own budget.
    """
    if not has_request_context():
        return None
    deadline = g.get("gateway_deadline")
    if deadline is None:
        total = float(current_app.config.get("GATEWAY_TOTAL_SECONDS") or DEFAULT_TOTAL_SECONDS)
        deadline = g.gateway_deadline = time.monotonic() + total
    return deadline - time.monotonic()


def pooled_session(pool_size: int = 16) -> requests.Session:
    """A `requests` session for gateway calls that reads the environment once, not per call.

    With `trust_env` on, `requests` scans every environment variable for proxy settings on each
    request: a measurable share of a sweep's CPU (thousands of calls a run, all on one core).
    Here the environment is consulted when the session is built instead: the CA bundle
    (REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE) now, and the proxies per host by `proxies_for`, so a
    deployment behind HTTPS_PROXY (with or without NO_PROXY) works as before. Gateways send
    their own credentials, so `.netrc`, the other thing `trust_env` reads, never applied.
    """
    session = requests.Session()
    session.trust_env = False
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def proxies_for(url: str) -> dict[str, str]:
    """The proxies the environment sets for `url`'s host (NO_PROXY honoured), as requests does."""
    proxies = requests.utils.get_environ_proxies(url)
    return {scheme: proxy for scheme, proxy in proxies.items() if scheme != "no"}


class HttpTransport:
    """A pooled `requests` session; every call is one attempt within its CallBudget."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, pool_size: int = 16) -> None:
        self.budget = CallBudget(connect_timeout + read_timeout, connect_timeout, read_timeout)
        self.session = pooled_session(pool_size)
        self._proxies: dict[str, dict[str, str]] = {}  # host -> its proxies, read once

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) of an attempt outside a request; inside one they may be cut."""
        return self.budget.connect, self.budget.read

    @classmethod
    def within(cls, budget: CallBudget, *, pool_size: int = 16) -> HttpTransport:
        """A transport making one attempt per call, within `budget` (see call_budget)."""
        transport = cls(
            connect_timeout=budget.connect, read_timeout=budget.read, pool_size=pool_size
        )
        transport.budget = budget
        return transport

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        """Send one request; raise GatewayUnavailable for transport trouble and 5xx.

        A 429 raises GatewayRateLimited carrying the gateway's Retry-After, whatever the body.
        """
        before_request()
        host = _host(url)
        proxies = self._proxies.get(host)
        if proxies is None:
            proxies = self._proxies[host] = proxies_for(url)
        if proxies:
            kwargs.setdefault("proxies", proxies)
        try:
            response = self.session.request(method, url, timeout=self.budget.timeouts(), **kwargs)
        except requests.Timeout as exc:
            raise GatewayUnavailable(f"timeout calling {_host(url)}") from exc
        except requests.RequestException as exc:
            raise GatewayUnavailable(f"cannot reach {_host(url)}: {type(exc).__name__}") from exc
        if response.status_code == 429:
            raise GatewayRateLimited(
                f"{_host(url)} answered HTTP 429", retry_after(response.headers.get("Retry-After"))
            )
        if response.status_code >= 500:
            raise GatewayUnavailable(f"{_host(url)} answered HTTP {response.status_code}")
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GatewayUnavailable(
                f"{_host(url)} answered HTTP {response.status_code} with a body that is not JSON"
            ) from exc
        return HttpResponse(response.status_code, body, dict(response.headers))


def _host(url: str) -> str:
    return requests.utils.urlparse(url).netloc or url
