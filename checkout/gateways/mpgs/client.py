"""Mastercard Gateway (MPGS) Hosted Checkout client, as HyperPay merchants on MPGS use it.

The wire format is shared/protocols.md section B. Facts that shaped this module:

- One code base serves many hosts (regional, acquirer-branded such as
  https://ksa.gateway.mastercard.com, test hosts), so the base URL and API version are settings.
- The successIndicator returned when the session is created is the only proof of payment the
  browser can carry back. It is kept server-side (CheckoutSession.secret) and never rendered.
- The payment status comes from Retrieve Order's `status` field through an explicit table
  (statuses.py). The top-level `result` only says whether the *request* worked: an order can
  answer `result: SUCCESS` while it is merely authenticated, so `result` never decides anything.
- Webhooks are authenticated by a plain shared secret and MPGS promises neither delivery nor
  order, so a notification only triggers a fresh Retrieve Order (notifications.py).
- Only PURCHASE is supported. AUTHORIZE would leave good payments uncaptured unless something
  captures them, and capturing moves money, which a status look-up must never do; the gateway
  is therefore shown disabled when MPGS_OPERATION is anything else.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...money import Money
from ..base import (
    CheckoutSession,
    Gateway,
    GatewayConfigError,
    GatewayRejected,
    GatewayUnavailable,
    InboundNotification,
    Observation,
    RefundResult,
    ReturnUrls,
)
from ..currency import CurrencyRules, codes
from ..transport import HttpResponse, HttpTransport, call_budget
from . import notifications, statuses
from .redaction import redact_transaction

if TYPE_CHECKING:
    from ...models import Payment

log = logging.getLogger(__name__)

#: INITIATE_CHECKOUT replaced CREATE_CHECKOUT_SESSION (same URL) in API version 63.
INITIATE_CHECKOUT_SINCE = 63
SUPPORTED_OPERATION = "PURCHASE"
_TRANSIENT_CAUSES = frozenset({"SERVER_BUSY", "SERVER_FAILED"})
_NO_SUCH_ORDER = "unable to find order"


def currency_rules(currencies: str) -> CurrencyRules:
    """What MPGS can charge: ISO-exponent decimal strings of at most 14 characters (B.3),
    in the currencies the merchant profile has (the acquirer decides; MPGS_CURRENCIES lists
    them, empty when the shop does not restrict them here)."""
    return CurrencyRules("MPGS", currencies=codes(currencies) or None, maximum_chars=14)


class MpgsGateway(Gateway):
    """REST-JSON client for one MPGS merchant. Holds no state beyond its HTTP pool."""

    name = "mpgs"
    notification_ack = ("OK", 200)

    def __init__(
        self,
        *,
        base_url: str,
        merchant_id: str,
        api_password: str,
        notification_secret: str,
        api_version: int = 100,
        merchant_name: str = "",
        session_timeout: int = 900,
        operation: str = SUPPORTED_OPERATION,
        currencies: str = "",
        connect_timeout: float = 3.05,
        read_timeout: float = 15.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.merchant_id = merchant_id
        self.api_password = api_password
        self.notification_secret = notification_secret
        self.api_version = int(api_version)
        self.merchant_name = merchant_name
        self.session_timeout = int(session_timeout)
        self.operation = (operation or SUPPORTED_OPERATION).upper()
        self.rules = currency_rules(currencies)
        self.transport = HttpTransport(connect_timeout=connect_timeout, read_timeout=read_timeout)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MpgsGateway:
        budget = call_budget(config)
        return cls(
            base_url=config["MPGS_BASE_URL"],
            merchant_id=config["MPGS_MERCHANT_ID"],
            api_password=config["MPGS_API_PASSWORD"],
            notification_secret=config["MPGS_NOTIFICATION_SECRET"],
            api_version=config.get("MPGS_API_VERSION", 100),
            merchant_name=config.get("MPGS_MERCHANT_NAME", ""),
            session_timeout=config.get("MPGS_SESSION_TIMEOUT", 900),
            operation=config.get("MPGS_OPERATION", SUPPORTED_OPERATION),
            currencies=config.get("MPGS_CURRENCIES", ""),
            # one attempt, its timeouts cut to GATEWAY_TOTAL_SECONDS (transport.call_budget)
            connect_timeout=budget.connect,
            read_timeout=budget.read,
        )

    @classmethod
    def currency_rules(cls, config: Mapping[str, Any]) -> CurrencyRules:
        return currency_rules(config.get("MPGS_CURRENCIES", ""))

    @classmethod
    def missing_settings(cls, config: Mapping[str, Any]) -> list[str]:
        """MPGS_OPERATION when it asks for authorize-only payments."""
        missing = []
        operation = str(config.get("MPGS_OPERATION") or SUPPORTED_OPERATION).upper()
        if operation != SUPPORTED_OPERATION:
            _warn_operation_once(operation)
            missing.append("MPGS_OPERATION")
        return missing

    # --- URLs -------------------------------------------------------------------------------

    @property
    def api_root(self) -> str:
        return f"{self.base_url}/api/rest/version/{self.api_version}/merchant/{self.merchant_id}"

    @property
    def session_operation(self) -> str:
        if self.api_version >= INITIATE_CHECKOUT_SINCE:
            return "INITIATE_CHECKOUT"
        return "CREATE_CHECKOUT_SESSION"

    @property
    def launch_script(self) -> str:
        if self.api_version >= INITIATE_CHECKOUT_SINCE:
            return f"{self.base_url}/static/checkout/checkout.min.js"
        return f"{self.base_url}/checkout/version/{self.api_version}/checkout.js"

    def hosted_page_url(self, session_id: str) -> str:
        """The direct hosted-page link, the fallback when checkout.js cannot run."""
        return f"{self.base_url}/checkout/pay/{session_id}?checkoutVersion=1.0.0"

    # --- create -----------------------------------------------------------------------------

    def session_request(self, payment: Payment, urls: ReturnUrls) -> dict[str, Any]:
        """The body of the session-create call (public so tests can read what is sent)."""
        money = payment.money
        return {
            "apiOperation": self.session_operation,
            "order": {
                "id": payment.ref,
                "amount": self.rules.decimal_str(money),
                "currency": money.currency,
                "description": _description(payment),
                "notificationUrl": urls.notify_url,
            },
            "interaction": {
                "operation": SUPPORTED_OPERATION,
                "returnUrl": urls.return_url,
                "cancelUrl": urls.cancel_url,
                "timeoutUrl": urls.timeout_url or urls.cancel_url,
                "timeout": self.session_timeout,
                "merchant": {"name": (self.merchant_name or "Tollgate")[:40]},
            },
        }

    def create_checkout(self, payment: Payment, urls: ReturnUrls) -> CheckoutSession:
        """Create a hosted checkout session for `payment` (our ref is the MPGS order id)."""
        if self.operation != SUPPORTED_OPERATION:
            raise GatewayConfigError(
                f"MPGS_OPERATION={self.operation} is not supported: only PURCHASE, because "
                "authorized payments would never be captured"
            )
        self.rules.require(payment.money)
        body = self.session_request(payment, urls)
        answer = self._call("POST", f"{self.api_root}/session", payment.ref, json=body)
        session = answer.get("session") if isinstance(answer.get("session"), dict) else {}
        session_id = str(session.get("id") or "")
        success_indicator = str(answer.get("successIndicator") or "")
        if not session_id or not success_indicator:
            # A session we cannot verify on return is worse than none: the shopper gets the
            # "try again" message and nothing half-made is kept.
            raise GatewayUnavailable("MPGS created a session without session.id/successIndicator")
        version = session.get("version")
        return CheckoutSession(
            gateway_reference=session_id,
            redirect_url=self.hosted_page_url(session_id),
            expires_at=datetime.now(UTC) + timedelta(seconds=self.session_timeout),
            secret=success_indicator,
            launch_script=self.launch_script,
            data={"session_version": version, "api_version": self.api_version},
            raw=self.redact(answer),
        )

    # --- status -----------------------------------------------------------------------------

    def fetch_status(self, payment: Payment) -> Observation:
        """Retrieve Order and map its `status` through the table. Never moves money."""
        try:
            order = self._call("GET", f"{self.api_root}/order/{payment.ref}", payment.ref)
        except _NoSuchOrder:
            return statuses.no_such_order(payment, datetime.now(UTC))
        return self.observe_order(payment, order)

    def money_may_still_come(self, observation: Observation) -> bool:
        """Past our deadline, may this Retrieve Order answer still turn into captured money?"""
        return statuses.money_may_still_come(observation.raw_status)

    def observe_order(self, payment: Payment, order: Mapping[str, Any]) -> Observation:
        """Map one Retrieve Order answer onto an Observation (pure: see statuses.py)."""
        return statuses.observe_order(payment, order)

    # --- return and notifications ------------------------------------------------------------

    def check_return(self, payment: Payment, args: Mapping[str, str]) -> str:
        """Compare resultIndicator with the stored successIndicator. A note only, never a verdict.

        The query string is the shopper's to edit, so a match or a mismatch is written to the
        timeline and the caller then asks Retrieve Order what really happened.
        """
        indicator = args.get("resultIndicator")
        if not indicator:
            return "resultIndicator missing"
        stored = payment.gateway_secret or ""
        if stored and hmac.compare_digest(indicator.encode(), stored.encode()):
            return "resultIndicator matches"
        return "resultIndicator does not match"

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> InboundNotification:
        """Verify X-Notification-Secret and read which order changed; trust nothing else."""
        return notifications.parse(
            headers, body, secret=self.notification_secret, merchant_id=self.merchant_id
        )

    # --- refund -----------------------------------------------------------------------------

    def refund(self, payment: Payment, amount: Money) -> RefundResult:
        """Refund `amount` of a captured order with a new, unique transaction id. Moves money."""
        if amount.currency != payment.currency:
            raise GatewayRejected(f"refund in {amount.currency} of a {payment.currency} payment")
        if amount.amount <= 0:
            raise GatewayRejected("refund amount must be greater than zero")
        self.rules.require(amount, refund=True)
        transaction_id = f"refund-{secrets.token_hex(8)}"
        body = {
            "apiOperation": "REFUND",
            "transaction": {
                "amount": self.rules.decimal_str(amount),
                "currency": amount.currency,
                "reference": transaction_id,
            },
        }
        url = f"{self.api_root}/order/{payment.ref}/transaction/{transaction_id}"
        answer = self._call("PUT", url, payment.ref, json=body)
        result = str(answer.get("result") or "")
        code = statuses.gateway_code(answer)
        if result in {"FAILURE", "ERROR"}:
            words = statuses.gateway_code_words(code) or "refused"
            raise GatewayRejected(f"MPGS refused the refund: {words}")
        status = {"SUCCESS": "succeeded", "PENDING": "pending"}.get(result, "unknown")
        log.info(
            "payment %s: MPGS refund %s of %s: %s", payment.ref, transaction_id, amount, result
        )
        return RefundResult(transaction_id, amount, status, raw=redact_transaction(answer))

    # --- HTTP -------------------------------------------------------------------------------

    def _call(self, method: str, url: str, ref: str, **kwargs: Any) -> dict[str, Any]:
        auth = (f"merchant.{self.merchant_id}", self.api_password)
        response = self.transport.request(method, url, auth=auth, **kwargs)
        body = response.body
        if not isinstance(body, dict):
            raise GatewayUnavailable(f"MPGS answered HTTP {response.status} with a non-object")
        _raise_for_error(response, ref)
        return body


class _NoSuchOrder(GatewayRejected):
    """Retrieve Order found nothing: nobody has entered a card for this order yet."""


def _raise_for_error(response: HttpResponse, ref: str) -> None:
    """Turn MPGS error answers into our errors; return quietly for a usable answer."""
    body = response.body
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    cause = str(error.get("cause") or "")
    explanation = str(error.get("explanation") or "")
    if 200 <= response.status < 300 and body.get("result") != "ERROR":
        return
    if cause in _TRANSIENT_CAUSES:
        raise GatewayUnavailable(f"MPGS {cause}: {explanation}".strip())
    if response.status == 401:
        log.error("payment %s: MPGS refused our credentials: %s", ref, explanation)
        raise GatewayConfigError(f"MPGS authentication failed (HTTP 401): {explanation}")
    if _NO_SUCH_ORDER in explanation.lower():
        raise _NoSuchOrder(explanation)
    if cause == "REQUEST_REJECTED" or response.status in (403, 404):
        log.error("payment %s: MPGS rejected the request (%s): %s", ref, cause, explanation)
        raise GatewayConfigError(
            f"MPGS rejected the request (HTTP {response.status} {cause}): {explanation}"
        )
    field = error.get("field")
    detail = f"{explanation} (field {field})" if field else explanation
    log.warning("payment %s: MPGS refused the request (%s): %s", ref, cause, detail)
    raise GatewayRejected(detail or f"HTTP {response.status} {cause}".strip())


def _description(payment: Payment) -> str:
    try:
        name = payment.order.product.name
    except AttributeError:
        name = ""
    return (name or f"Order {payment.ref}")[:127]


_warned_operations: set[str] = set()


def _warn_operation_once(operation: str) -> None:
    if operation not in _warned_operations:
        _warned_operations.add(operation)
        log.warning(
            "MPGS disabled: MPGS_OPERATION=%s is not supported (only PURCHASE; authorized "
            "payments would need a capture this product does not make)",
            operation,
        )
