"""Mastercard Gateway (MPGS) Hosted Checkout client, as HyperPay merchants on MPGS use it.

The wire format is shared/protocols.md section B. Facts that shaped this module:

- One code base serves many hosts (regional, acquirer-branded such as
  https://ksa.gateway.mastercard.com, test hosts), so the base URL and API version are settings.
- The successIndicator returned when the session is created is the only proof of payment the
  browser can carry back. It is kept server-side (CheckoutSession.secret) and never rendered.
- The payment status comes from Retrieve Order's `status` field through an explicit table. The
  top-level `result` only says whether the *request* worked: an order can answer
  `result: SUCCESS` while it is merely authenticated, so `result` never decides anything here.
- Webhooks are authenticated by a plain shared secret and MPGS promises neither delivery nor
  order, so a notification only triggers a fresh Retrieve Order.
- Only PURCHASE is supported. AUTHORIZE would leave good payments uncaptured unless something
  captures them, and capturing moves money, which a status look-up must never do; the gateway
  is therefore shown disabled when MPGS_OPERATION is anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...money import Money, MoneyError
from ...states import PaymentStatus
from ..base import (
    CheckoutSession,
    Gateway,
    GatewayConfigError,
    GatewayRejected,
    GatewayUnavailable,
    InboundNotification,
    InvalidNotification,
    Observation,
    RefundResult,
    ReturnUrls,
)
from ..currency import CurrencyRules, codes
from ..transport import HttpResponse, HttpTransport
from ..wire import header, json_safe, notification_object, text_at

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


S = PaymentStatus

# Retrieve Order `status` -> ours. CAPTURED is special-cased (amounts must be checked); states
# after a payment are flagged for staff without moving the payment; the rest is unknown.
STATUS_MAP: dict[str, PaymentStatus] = {
    "INITIATED": S.PENDING,
    "AUTHENTICATION_INITIATED": S.PENDING,
    "AUTHENTICATED": S.PENDING,
    "AUTHENTICATION_NOT_NEEDED": S.PENDING,
    "AUTHORIZED": S.PENDING,  # held, not collected: flagged, see _AUTHORIZED_REVIEW
    "PARTIALLY_CAPTURED": S.PENDING,  # flagged
    "FAILED": S.FAILED,
    "CANCELLED": S.FAILED,
    "AUTHENTICATION_UNSUCCESSFUL": S.FAILED,
}
AFTER_PAYMENT_STATUSES = frozenset(
    {
        "REFUNDED",
        "PARTIALLY_REFUNDED",
        "EXCESSIVELY_REFUNDED",
        "REFUND_REQUESTED",
        "CHARGEBACK_PROCESSED",
        "DISPUTED",
        "DISBURSED",
        "FUNDING",
    }
)
_AUTHORIZED_REVIEW = (
    "MPGS holds an authorization that nobody will capture: capture or void it in Merchant "
    "Administration"
)
#: After-payment statuses onto the kind of review the shopper reads (states.ReviewKind).
_AFTER_PAYMENT_KIND: dict[str, str] = {
    "REFUNDED": "refunded",
    "PARTIALLY_REFUNDED": "refunded",
    "EXCESSIVELY_REFUNDED": "refunded",
    "REFUND_REQUESTED": "refunded",
    "CHARGEBACK_PROCESSED": "disputed",
    "DISPUTED": "disputed",
}
#: Retrieve Order statuses after which money may still be captured once our deadline passed:
#: the payer is inside 3-D Secure or about to pay (the session's own clock may lag ours), or an
#: authorization holds the money and staff may still capture it. Everything else is settled
#: (CAPTURED, FAILED, ...) or shows nobody ever entered a card (no order at all).
MONEY_MAY_STILL_COME = frozenset(
    {
        "INITIATED",
        "AUTHENTICATION_INITIATED",
        "AUTHENTICATED",
        "AUTHENTICATION_NOT_NEEDED",
        "AUTHORIZED",
        "PARTIALLY_CAPTURED",
    }
)
AUTHORIZED_MESSAGE = "The card was authorised but not captured"

#: response.gatewayCode in words, for the shopper's status page and the staff timeline.
GATEWAY_CODE_WORDS: dict[str, str] = {
    "APPROVED": "Approved",
    "APPROVED_AUTO": "Approved",
    "APPROVED_PENDING_SETTLEMENT": "Approved",
    "DECLINED": "Card declined",
    "DECLINED_DO_NOT_CONTACT": "Card declined",
    "DECLINED_AVS": "Card declined: the billing address did not match",
    "DECLINED_CSC": "Card declined: the security code did not match",
    "DECLINED_AVS_CSC": "Card declined: the billing address and security code did not match",
    "DECLINED_INVALID_PIN": "Card declined: wrong PIN",
    "DECLINED_PIN_REQUIRED": "Card declined: a PIN is required",
    "DECLINED_PAYMENT_PLAN": "Card declined for this payment plan",
    "INSUFFICIENT_FUNDS": "Insufficient funds",
    "EXPIRED_CARD": "Card expired",
    "REFERRED": "Declined: please contact your card issuer",
    "BLOCKED": "Blocked by the payment gateway's fraud checks",
    "TIMED_OUT": "Your bank did not answer in time",
    "ACQUIRER_SYSTEM_ERROR": "The card network had a system error",
    "SYSTEM_ERROR": "The payment gateway had a system error",
    "UNSPECIFIED_FAILURE": "The payment could not be processed",
    "NOT_SUPPORTED": "This card is not supported here",
    "NOT_ENROLLED_3D_SECURE": "This card is not enrolled for 3-D Secure",
    "AUTHENTICATION_FAILED": "Card authentication (3-D Secure) failed",
    "AUTHENTICATION_IN_PROGRESS": "Card authentication (3-D Secure) is still in progress",
    "ABORTED": "The payment was abandoned",
    "CANCELLED": "The payment was cancelled",
    "UNKNOWN": "The outcome is not known yet",
}
_STATUS_WORDS = {
    "AUTHENTICATION_UNSUCCESSFUL": "Card authentication (3-D Secure) failed",
    "CANCELLED": "The payment was cancelled",
    "FAILED": "The payment was not approved",
}
EXPIRED_MESSAGE = "The card payment page timed out before a payment was made"
_AFTER_PAYMENT_WORDS = {
    "refunded": "The card payment was refunded",
    "disputed": "The card payment is disputed",
}


def gateway_code_words(code: str | None) -> str | None:
    """A gateway code in words; unknown codes are shown as they are rather than guessed."""
    if not code:
        return None
    return GATEWAY_CODE_WORDS.get(code, f"Payment not approved ({code})")


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
            connect_timeout=config["GATEWAY_CONNECT_TIMEOUT"],
            read_timeout=config["GATEWAY_READ_TIMEOUT"],
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
            return _no_such_order(payment)
        return self.observe_order(payment, order)

    def money_may_still_come(self, observation: Observation) -> bool:
        """Past our deadline, may this Retrieve Order answer still turn into captured money?"""
        return observation.raw_status in MONEY_MAY_STILL_COME

    def observe_order(self, payment: Payment, order: Mapping[str, Any]) -> Observation:
        """Map one Retrieve Order answer onto an Observation (pure: no HTTP)."""
        raw_status = str(order.get("status") or "")
        raw = redact_order(order)
        if order.get("id") not in (None, payment.ref):
            log.error("payment %s: MPGS answered for order %r", payment.ref, order.get("id"))
            return Observation(
                S(payment.status) if payment.status != S.CREATED else S.PENDING,
                raw_status or "?",
                review=f"MPGS answered a look-up for {payment.ref} with order {order.get('id')}",
                raw=raw,
            )
        latest = _latest_transaction(order)
        code = _gateway_code(latest)

        if raw_status == "CAPTURED":
            return self._captured(payment, order, raw)
        if raw_status in AFTER_PAYMENT_STATUSES:
            return self._after_payment(payment, order, raw_status, raw)
        mapped = STATUS_MAP.get(raw_status)
        if mapped is None:
            log.warning(
                "payment %s: unknown MPGS order status %r, treated as pending",
                payment.ref,
                raw_status,
            )
            return Observation(S.PENDING, raw_status or "(no status)", raw=raw)
        if mapped == S.FAILED:
            # A failed 3-D Secure check says so; otherwise the decline reason is the news.
            words = None
            if raw_status != "AUTHENTICATION_UNSUCCESSFUL" and code not in (None, "APPROVED"):
                words = gateway_code_words(code)
            message = words or _STATUS_WORDS[raw_status]
            raw_words = f"{raw_status}/{code}" if code else raw_status
            return Observation(S.FAILED, raw_words, message=message, raw=raw)
        if raw_status == "AUTHORIZED":
            return Observation(
                S.PENDING,
                raw_status,
                message=AUTHORIZED_MESSAGE,
                review=_AUTHORIZED_REVIEW,
                review_kind="authorised",
                raw=raw,
            )
        if raw_status == "PARTIALLY_CAPTURED":
            return Observation(
                S.PENDING,
                raw_status,
                message="Part of the amount was taken from the card",
                review=f"MPGS partially captured this order ({_totals(order)})",
                review_kind="underpaid",
                raw=raw,
            )
        return Observation(S.PENDING, raw_status, raw=raw)

    def _captured(
        self, payment: Payment, order: Mapping[str, Any], raw: dict[str, Any]
    ) -> Observation:
        """COMPLETED with what was captured; the funnel refuses it unless it is our amount."""
        currency = str(order.get("currency") or "")
        captured = order.get("totalCapturedAmount")
        try:
            paid = Money.parse(captured, currency) if captured is not None and currency else None
        except MoneyError:
            log.error("payment %s: unreadable captured amount %r", payment.ref, captured)
            return Observation(
                S.PENDING,
                "CAPTURED",
                review=f"MPGS says captured but the amount {captured!r} {currency} is unreadable",
                raw=raw,
            )
        return Observation(S.COMPLETED, "CAPTURED", paid=paid, message="Paid by card", raw=raw)

    def _after_payment(
        self, payment: Payment, order: Mapping[str, Any], raw_status: str, raw: dict[str, Any]
    ) -> Observation:
        """Refunds, disputes, chargebacks: recorded and flagged; staff decide what follows.

        Refunds made through our own console are already on the payment (refunded_amount), so
        an order whose refunded total equals them is simply what we expect and is not flagged.
        """
        current = S(payment.status)
        keep = current if current != S.CREATED else S.PENDING
        if raw_status in ("REFUNDED", "PARTIALLY_REFUNDED") and current in (
            S.COMPLETED,
            S.REFUNDED,
        ):
            try:
                refunded = Money.parse(order.get("totalRefundedAmount"), str(order.get("currency")))
            except MoneyError:
                refunded = None
            if (
                refunded is not None
                and refunded.currency == payment.currency
                and refunded.amount == (payment.refunded_amount or 0)
            ):
                return Observation(keep, raw_status, raw=raw)
        log.warning("payment %s: MPGS order is %s, flagged for staff", payment.ref, raw_status)
        return Observation(
            keep,
            raw_status,
            message=_AFTER_PAYMENT_WORDS.get(_AFTER_PAYMENT_KIND.get(raw_status, ""), ""),
            review=f"MPGS order is {raw_status} ({_totals(order)})",
            review_kind=_AFTER_PAYMENT_KIND.get(raw_status),
            raw=raw,
        )

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
        secret = header(headers, "X-Notification-Secret")
        if secret is None:
            raise InvalidNotification("X-Notification-Secret header missing")
        if not self.notification_secret or not hmac.compare_digest(
            secret.encode(), self.notification_secret.encode()
        ):
            raise InvalidNotification("X-Notification-Secret does not match")
        data = notification_object(body)
        merchant = data.get("merchant")
        if merchant not in (None, self.merchant_id):
            raise InvalidNotification(f"notification is for merchant {merchant!r}, not ours")
        order = data.get("order") if isinstance(data.get("order"), dict) else {}
        transaction = data.get("transaction") if isinstance(data.get("transaction"), dict) else {}
        return InboundNotification(
            event_id=_notification_id(headers, body),
            event_type=str(transaction.get("type") or "TRANSACTION"),
            payment_ref=text_at(order, "id"),
            observation=None,  # no promise of delivery or order: look the order up instead
            payload=redact_transaction(data),
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
        code = _gateway_code(answer)
        if result in {"FAILURE", "ERROR"}:
            words = gateway_code_words(code) or "refused"
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
    if response.status == 429:
        raise GatewayUnavailable("MPGS is rate-limiting us (HTTP 429)")
    if cause == "REQUEST_REJECTED" or response.status in (403, 404):
        log.error("payment %s: MPGS rejected the request (%s): %s", ref, cause, explanation)
        raise GatewayConfigError(
            f"MPGS rejected the request (HTTP {response.status} {cause}): {explanation}"
        )
    field = error.get("field")
    detail = f"{explanation} (field {field})" if field else explanation
    log.warning("payment %s: MPGS refused the request (%s): %s", ref, cause, detail)
    raise GatewayRejected(detail or f"HTTP {response.status} {cause}".strip())


def _notification_id(headers: Mapping[str, str], body: bytes) -> str:
    """X-Notification-Id when sent, else a hash of the body.

    Mastercard documents only X-Notification-Secret (developer.mastercard.com, Mastercard
    Gateway, "Webhook Notifications"); the id header is known from third parties alone. Without
    it a redelivery of the same body is still stored once, and a notification never carries a
    status anyway: it only triggers Retrieve Order.
    """
    event_id = header(headers, "X-Notification-Id")
    if event_id:
        return event_id
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _no_such_order(payment: Payment) -> Observation:
    """No order yet: nobody has paid. Pending while the session can still be used, then expired."""
    expires_at = payment.expires_at
    if expires_at is not None and datetime.now(UTC) >= expires_at:
        return Observation(S.EXPIRED, "NO_SUCH_ORDER", message=EXPIRED_MESSAGE)
    return Observation(S.PENDING, "NO_SUCH_ORDER")


def _latest_transaction(order: Mapping[str, Any]) -> Mapping[str, Any] | None:
    transactions = order.get("transaction")
    if not isinstance(transactions, list):
        return None
    records = [t for t in transactions if isinstance(t, dict)]
    if not records:
        return None
    # ISO-8601 UTC strings of one format sort as times; the list order breaks ties.
    return max(
        enumerate(records), key=lambda pair: (str(pair[1].get("timeOfRecord", "")), pair[0])
    )[1]


def _gateway_code(record: Mapping[str, Any] | None) -> str | None:
    if not record:
        return None
    response = record.get("response")
    if isinstance(response, dict) and response.get("gatewayCode"):
        return str(response["gatewayCode"])
    return None


def _totals(order: Mapping[str, Any]) -> str:
    currency = order.get("currency", "")
    parts = [
        f"{label} {order[key]} {currency}"
        for key, label in (
            ("totalAuthorizedAmount", "authorized"),
            ("totalCapturedAmount", "captured"),
            ("totalRefundedAmount", "refunded"),
        )
        if order.get(key) is not None
    ]
    return ", ".join(parts) or "no totals given"


def _description(payment: Payment) -> str:
    try:
        name = payment.order.product.name
    except AttributeError:
        name = ""
    return (name or f"Order {payment.ref}")[:127]


_ORDER_FIELDS = (
    "id",
    "amount",
    "currency",
    "status",
    "result",
    "merchant",
    "creationTime",
    "lastUpdatedTime",
    "totalAuthorizedAmount",
    "totalCapturedAmount",
    "totalRefundedAmount",
    "totalDisbursedAmount",
    "authenticationStatus",
    "chargeback",
)
_TRANSACTION_FIELDS = ("id", "type", "amount", "currency", "receipt", "reference", "source")
_RESPONSE_FIELDS = ("gatewayCode", "acquirerCode", "acquirerMessage", "gatewayRecommendation")


def redact_transaction(data: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction record reduced to what staff need: no card, payer, device or billing data."""
    kept: dict[str, Any] = {
        key: data[key]
        for key in ("result", "merchant", "gatewayEntryPoint", "timeOfRecord", "version")
        if key in data
    }
    if isinstance(data.get("order"), dict):
        kept["order"] = {k: data["order"][k] for k in _ORDER_FIELDS if k in data["order"]}
    if isinstance(data.get("transaction"), dict):
        txn = data["transaction"]
        kept["transaction"] = {k: txn[k] for k in _TRANSACTION_FIELDS if k in txn}
    if isinstance(data.get("response"), dict):
        kept["response"] = {
            k: data["response"][k] for k in _RESPONSE_FIELDS if k in data["response"]
        }
    funds = data.get("sourceOfFunds")
    if isinstance(funds, dict) and funds.get("type"):
        kept["sourceOfFunds"] = {"type": funds["type"]}
    return json_safe(kept)


def redact_order(order: Mapping[str, Any]) -> dict[str, Any]:
    """A Retrieve Order answer without card or payer data, for Payment.last_raw."""
    kept = {key: order[key] for key in _ORDER_FIELDS if key in order}
    transactions = order.get("transaction")
    if isinstance(transactions, list):
        kept["transaction"] = [redact_transaction(t) for t in transactions if isinstance(t, dict)]
    return json_safe(kept)


_warned_operations: set[str] = set()


def _warn_operation_once(operation: str) -> None:
    if operation not in _warned_operations:
        _warned_operations.add(operation)
        log.warning(
            "MPGS disabled: MPGS_OPERATION=%s is not supported (only PURCHASE; authorized "
            "payments would need a capture this product does not make)",
            operation,
        )
