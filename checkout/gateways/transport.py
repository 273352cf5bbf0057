"""HTTP plumbing shared by the gateways that speak plain HTTP (CoinPayments, MPGS).

It turns every way a call can go wrong in transit (timeout, refused connection, 5xx, a body that
is not JSON) into GatewayUnavailable, so gateway modules only handle answers that mean something.
Numbers in JSON bodies are parsed as Decimal so money never passes through a float.
"""

from __future__ import annotations

import json
import logging
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


class HttpTransport:
    """A pooled `requests` session with a timeout on every call."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, pool_size: int = 16) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        """Send one request; raise GatewayUnavailable for transport trouble and 5xx."""
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
