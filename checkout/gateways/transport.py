"""HTTP plumbing shared by the gateways that speak plain HTTP (CoinPayments, MPGS).

It turns every way a call can go wrong in transit (timeout, refused connection, 5xx, a body that
is not JSON) into GatewayUnavailable, so gateway modules only handle answers that mean something.
Numbers in JSON bodies are parsed as Decimal so money never passes through a float.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .base import GatewayUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Any  # parsed JSON
    headers: dict[str, str]


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
    """A pooled `requests` session with a timeout on every call."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, pool_size: int = 16) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.session = pooled_session(pool_size)
        self._proxies: dict[str, dict[str, str]] = {}  # host -> its proxies, read once

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        """Send one request; raise GatewayUnavailable for transport trouble and 5xx."""
        host = _host(url)
        proxies = self._proxies.get(host)
        if proxies is None:
            proxies = self._proxies[host] = proxies_for(url)
        if proxies:
            kwargs.setdefault("proxies", proxies)
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout as exc:
            raise GatewayUnavailable(f"timeout calling {_host(url)}") from exc
        except requests.RequestException as exc:
            raise GatewayUnavailable(f"cannot reach {_host(url)}: {type(exc).__name__}") from exc
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
