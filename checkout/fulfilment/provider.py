"""Client of the eSIM provider the shop buys its eSIM profiles from, once an order is paid.

The wire shape is docs/esim-provider.md: `POST {ESIM_PROVIDER_URL}/v1/orders` with the key in
`X-API-Key`, a body of `plan` (our Product.slug), `quantity` 1 and `reference` (our order ref),
and an answer carrying the profile's ICCID, SM-DP+ address and matching id. Facts that shaped it:

- The provider keeps `reference` as an idempotency key: a repeated order with the same reference
  answers the eSIM bought the first time. So the outbox may retry after a timeout or a crash
  (the answer lost, the purchase made) without ever buying a second eSIM.
- Failures are split the way the gateways split them (gateways/errors.py): transport trouble,
  5xx, 429 and unreadable answers are transient (GatewayUnavailable), a refused key or missing
  settings need a person (GatewayConfigError), and a refusal of the order itself such as an
  out-of-stock plan is ProviderRefused (a GatewayRejected): retrying would not help.
- The LPA activation string is built from the SM-DP+ address and the matching id, the two parts
  the phone needs (`LPA:1$<SM-DP+ address>$<matching id>`, GSMA SGP.22).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from ..gateways.errors import GatewayConfigError, GatewayRejected, GatewayUnavailable
from ..gateways.transport import HttpResponse, HttpTransport

log = logging.getLogger(__name__)

#: The key the sandbox's provider accepts. Public on purpose: the sandbox sells nothing real,
#: and production refuses to start with TOLLGATE_SANDBOX_URL set.
SANDBOX_API_KEY = "sandbox-esim-provider-key-0123456789"
#: Where the sandbox app serves the provider API, under TOLLGATE_SANDBOX_URL.
SANDBOX_PATH = "/esim"


@dataclass(frozen=True)
class IssuedEsim:
    """One eSIM profile the provider sold us for one order."""

    order_id: str  # the provider's order id
    iccid: str
    smdp_address: str
    matching_id: str

    @property
    def lpa(self) -> str:
        """The activation string a phone scans (the QR code's content)."""
        return f"LPA:1${self.smdp_address}${self.matching_id}"


class ProviderRefused(GatewayRejected):
    """The provider refused the order itself (out of stock, unknown plan): a person must act."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


class EsimProvider:
    """REST-JSON client for the provider's order API. Holds no state beyond its HTTP pool."""

    def __init__(
        self, *, base_url: str, api_key: str, connect_timeout: float, read_timeout: float
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.transport = HttpTransport(connect_timeout=connect_timeout, read_timeout=read_timeout)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EsimProvider:
        return cls(
            base_url=config["ESIM_PROVIDER_URL"],
            api_key=config["ESIM_PROVIDER_API_KEY"],
            connect_timeout=config["GATEWAY_CONNECT_TIMEOUT"],
            read_timeout=config["ESIM_PROVIDER_TIMEOUT"],
        )

    def order(self, plan: str, reference: str) -> IssuedEsim:
        """Buy one eSIM of `plan` for our order `reference`; a repeat answers the same eSIM."""
        if not self.base_url or not self.api_key:
            raise GatewayConfigError("ESIM_PROVIDER_URL and ESIM_PROVIDER_API_KEY must be set")
        body = {"plan": plan, "quantity": 1, "reference": reference}
        response = self.transport.request(
            "POST",
            f"{self.base_url}/v1/orders",
            json=body,
            headers={"X-API-Key": self.api_key, "Accept": "application/json"},
        )
        _raise_for_error(response, reference)
        esim = _issued(response.body)
        log.info(
            "order %s: eSIM provider order %s, ICCID %s (HTTP %s)",
            reference,
            esim.order_id,
            esim.iccid,
            response.status,
        )
        return esim


def get_provider(app: Flask | None = None) -> EsimProvider:
    """The configured provider client, built once per app."""
    app = app or current_app._get_current_object()
    if "tollgate_esim_provider" not in app.extensions:
        app.extensions["tollgate_esim_provider"] = EsimProvider.from_config(app.config)
    return app.extensions["tollgate_esim_provider"]


def apply_sandbox(config: MutableMapping[str, Any]) -> bool:
    """Point the provider at the sandbox with its demo key, unless a live key is set.

    As gateways/registry.py `apply_sandbox` does for the gateways: putting the real key (and
    URL) in `.env` is all it takes to buy real eSIMs. Returns whether the sandbox is used.
    """
    if config.get("ESIM_PROVIDER_API_KEY"):
        return False
    config["ESIM_PROVIDER_URL"] = config["TOLLGATE_SANDBOX_URL"].rstrip("/") + SANDBOX_PATH
    config["ESIM_PROVIDER_API_KEY"] = SANDBOX_API_KEY
    return True


def _raise_for_error(response: HttpResponse, reference: str) -> None:
    """Turn the provider's error answers into our errors; return quietly for a usable answer."""
    body = response.body
    if not isinstance(body, dict):
        raise GatewayUnavailable(f"eSIM provider answered HTTP {response.status} with a non-object")
    if 200 <= response.status < 300:
        return
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = str(error.get("code") or f"http_{response.status}")
    message = str(error.get("message") or "")
    if response.status == 429:
        raise GatewayUnavailable(f"eSIM provider is rate-limiting us (HTTP 429): {message}")
    if response.status in (401, 403):
        log.error("order %s: eSIM provider refused our API key: %s", reference, message)
        raise GatewayConfigError(
            f"eSIM provider refused our API key (HTTP {response.status} {code}): {message}"
        )
    log.warning("order %s: eSIM provider refused the order (%s): %s", reference, code, message)
    raise ProviderRefused(code, message)


def _issued(body: dict[str, Any]) -> IssuedEsim:
    """The eSIM in a 2xx answer; an answer without one is treated as not having come."""
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    esims = data.get("esims")
    esim = esims[0] if isinstance(esims, list) and esims and isinstance(esims[0], dict) else {}
    parts = {
        "order_id": data.get("id"),
        "iccid": esim.get("iccid"),
        "smdp_address": esim.get("smdp_address"),
        "matching_id": esim.get("matching_id"),
    }
    missing = [name for name, value in parts.items() if not isinstance(value, str) or not value]
    if missing:
        # Retrying is safe (the reference makes it idempotent) and may get a complete answer.
        raise GatewayUnavailable(f"eSIM provider answered without {', '.join(missing)}")
    return IssuedEsim(**parts)
