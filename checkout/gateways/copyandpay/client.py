"""HyperPay COPYandPAY client: prepare a checkout, read its payment, refund. docs/copyandpay.md.

- Every call carries `Authorization: Bearer <access token>` and the `entityId`; POST bodies are
  form-urlencoded. Amounts are decimal strings of at most 12 digits and two decimals (OPPWA's
  amount format), so a currency with three ISO decimals is charged in whole hundredths only.
- The shopper pays in HyperPay's widget (paymentWidgets.js) on our own page; the checkout id is
  our gateway reference and lives 30 minutes. While it is fresh the payment is read from
  `GET /v1/checkouts/{id}/payment`; afterwards (the sweep), and whenever that session is gone,
  from the transaction report by `merchantTransactionId`, which is our payment ref.
- The outcome comes from `result.code` alone, through the documented patterns in statuses.py.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...money import Money
from ...states import PaymentStatus
from ..base import (
    CheckoutSession,
    Gateway,
    GatewayConfigError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayUnavailable,
    InboundNotification,
    Observation,
    RefundResult,
    ReturnUrls,
)
from ..currency import CurrencyRules
from ..transport import HttpResponse, HttpTransport, call_budget
from . import notifications, statuses
from .settings import DEFAULT_BRANDS, LIVE_BASE_URL

if TYPE_CHECKING:
    from ...models import Payment

log = logging.getLogger(__name__)
S = PaymentStatus

#: "A checkout id expires when a payment has been finalized successfully, but not later than
#: 30 minutes" (COPYandPAY integration guide).
CHECKOUT_LIFETIME = timedelta(minutes=30)
#: ISO 4217 currencies with three decimals; OPPWA amounts have at most two.
_THREE_DECIMALS = ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")


def currency_rules() -> CurrencyRules:
    """`^[0-9]{1,12}(\\.[0-9]{2})?$`: twelve integer digits and two decimals at most."""
    return CurrencyRules(
        "HyperPay COPYandPAY",
        decimals=dict.fromkeys(_THREE_DECIMALS, 2),
        maximum_chars=15,
    )


class CopyAndPayGateway(Gateway):
    """REST client for one HyperPay entity. Holds no state beyond its HTTP pool."""

    name = "copyandpay"
    required_settings = ("COPYANDPAY_ACCESS_TOKEN", "COPYANDPAY_ENTITY_ID")

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        entity_id: str,
        webhook_key: str = "",
        brands: str = DEFAULT_BRANDS,
        connect_timeout: float = 3.05,
        read_timeout: float = 15.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.entity_id = entity_id
        self.webhook_key = webhook_key
        self.brands = " ".join(brands.replace(",", " ").upper().split()) or DEFAULT_BRANDS
        self.rules = currency_rules()
        self.transport = HttpTransport(connect_timeout=connect_timeout, read_timeout=read_timeout)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CopyAndPayGateway:
        budget = call_budget(config)
        return cls(
            base_url=config.get("COPYANDPAY_BASE_URL") or LIVE_BASE_URL,
            access_token=config["COPYANDPAY_ACCESS_TOKEN"],
            entity_id=config["COPYANDPAY_ENTITY_ID"],
            webhook_key=config.get("COPYANDPAY_WEBHOOK_KEY", ""),
            brands=config.get("COPYANDPAY_BRANDS") or DEFAULT_BRANDS,
            # one attempt, its timeouts cut to GATEWAY_TOTAL_SECONDS (transport.call_budget)
            connect_timeout=budget.connect,
            read_timeout=budget.read,
        )

    @classmethod
    def currency_rules(cls, config: Mapping[str, Any]) -> CurrencyRules:
        return currency_rules()

    def widget_script(self, checkout_id: str) -> str:
        return f"{self.base_url}/v1/paymentWidgets.js?checkoutId={quote(checkout_id, safe='')}"

    # --- create -----------------------------------------------------------------------------

    def checkout_request(self, payment: Payment, urls: ReturnUrls) -> dict[str, str]:
        """The form fields of `POST /v1/checkouts` (public so tests can read what is sent)."""
        money = payment.money
        return {
            "entityId": self.entity_id,
            "amount": self.rules.decimal_str(money),
            "currency": money.currency,
            "paymentType": "DB",
            "merchantTransactionId": payment.ref,
            "shopperResultUrl": urls.return_url,
            "integrity": "true",
        }

    def create_checkout(self, payment: Payment, urls: ReturnUrls) -> CheckoutSession:
        """Prepare a checkout; the shopper pays in the widget on our launch page.

        Retrying is safe: an unused checkout id simply expires, and every one carries our ref as
        merchantTransactionId, so the report finds whichever of them was paid.
        """
        self.rules.require(payment.money)
        answer = self._call(
            "POST", "/v1/checkouts", payment.ref, data=self.checkout_request(payment, urls)
        )
        code, description = statuses.result_of(answer)
        checkout_id = answer.get("id")
        if statuses.category(code) is not statuses.Category.PENDING or not isinstance(
            checkout_id, str
        ):
            raise GatewayUnavailable(f"HyperPay did not prepare a checkout: {code} {description}")
        data: dict[str, Any] = {
            "shopper_result_url": urls.return_url,
            "brands": self.brands,
        }
        if isinstance(answer.get("integrity"), str):
            data["integrity"] = answer["integrity"]
        return CheckoutSession(
            gateway_reference=checkout_id,
            redirect_url=urls.status_url,
            expires_at=datetime.now(UTC) + CHECKOUT_LIFETIME,
            launch_script=self.widget_script(checkout_id),
            data=data,
            raw=self.redact(answer),
        )

    # --- status -----------------------------------------------------------------------------

    def fetch_status(self, payment: Payment) -> Observation:
        """The checkout's payment while the checkout is fresh, else the transaction report."""
        if payment.gateway_reference and _fresh(payment):
            try:
                answer = self._call(
                    "GET",
                    f"/v1/checkouts/{quote(payment.gateway_reference, safe='')}/payment",
                    payment.ref,
                    params={"entityId": self.entity_id},
                )
            except _NoSession:
                log.info("payment %s: checkout session gone, reading the report", payment.ref)
            else:
                return statuses.observe_payment(payment.ref, answer)
        return self.fetch_report(payment)

    def fetch_report(self, payment: Payment) -> Observation:
        """`GET /v1/query?merchantTransactionId=<ref>`: every transaction made for our ref."""
        try:
            report = self._call(
                "GET",
                "/v1/query",
                payment.ref,
                params={"entityId": self.entity_id, "merchantTransactionId": payment.ref},
            )
        except _NotFound:
            return _nothing_found(payment)
        observation = statuses.observe_report(payment.ref, report)
        if observation.raw_status == statuses.NOT_FOUND:
            return _nothing_found(payment)
        return observation

    def money_may_still_come(self, observation: Observation) -> bool:
        return statuses.money_may_still_come(observation.raw_status)

    def check_return(self, payment: Payment, args: Mapping[str, str]) -> str:
        """Note whether `id` and `resourcePath` name our checkout; a note only, never a verdict."""
        checkout_id, path = args.get("id"), args.get("resourcePath")
        if not checkout_id and not path:
            return "id and resourcePath missing"
        ours = payment.gateway_reference or ""
        expected = f"/v1/checkouts/{ours}/payment"
        if checkout_id == ours and path in (None, expected):
            return "returned from checkout " + ours
        return f"returned naming another checkout ({checkout_id!r}, {path!r})"

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> InboundNotification:
        return notifications.parse(headers, body, self.webhook_key, self.entity_id)

    # --- refund -----------------------------------------------------------------------------

    def refund(self, payment: Payment, amount: Money) -> RefundResult:
        """`POST /v1/payments/{id}`, paymentType RF, against the successful debit. Moves money."""
        if amount.currency != payment.currency:
            raise GatewayRejected(f"refund in {amount.currency} of a {payment.currency} payment")
        self.rules.require(amount, refund=True)
        debit = (payment.gateway_data or {}).get("payment_id") or self._debit_id(payment)
        body = {
            "entityId": self.entity_id,
            "amount": self.rules.decimal_str(amount),
            "currency": amount.currency,
            "paymentType": "RF",
        }
        answer = self._call("POST", f"/v1/payments/{quote(debit, safe='')}", payment.ref, data=body)
        code, description = statuses.result_of(answer)
        group = statuses.category(code)
        if group is statuses.Category.SUCCESS:
            status = "succeeded"
        elif group in (statuses.Category.PENDING, statuses.Category.PENDING_LONG):
            status = "pending"
        else:
            raise GatewayRejected(f"HyperPay refused the refund: {code} {description}".strip())
        log.info("payment %s: HyperPay refund of %s: %s", payment.ref, amount, code)
        return RefundResult(str(answer.get("id") or ""), amount, status, raw=self.redact(answer))

    def _debit_id(self, payment: Payment) -> str:
        observation = self.fetch_report(payment)
        debit = observation.data.get("payment_id")
        if observation.status != S.COMPLETED or not debit:
            raise GatewayRejected(f"HyperPay holds no successful debit for {payment.ref}")
        return str(debit)

    def redact(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return statuses.redact_record(data)

    # --- HTTP -------------------------------------------------------------------------------

    def _call(self, method: str, path: str, ref: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.access_token}"}
        response = self.transport.request(method, self.base_url + path, headers=headers, **kwargs)
        body = response.body
        if not isinstance(body, dict):
            raise GatewayUnavailable(f"HyperPay answered HTTP {response.status} with a non-object")
        _raise_for_error(response, ref, lookup=method == "GET")
        return body


class _NoSession(GatewayRejected):
    """GET /v1/checkouts/{id}/payment: the checkout session is gone (paid or 30 minutes old)."""


class _NotFound(GatewayRejected):
    """The transaction report holds nothing for our merchantTransactionId."""


def _raise_for_error(response: HttpResponse, ref: str, *, lookup: bool) -> None:
    """Turn OPPWA's refusals into our errors; return quietly for an answer to read."""
    code, description = statuses.result_of(response.body)
    if response.status in (401, 403):
        log.error("payment %s: HyperPay refused our credentials: %s %s", ref, code, description)
        raise GatewayConfigError(f"HyperPay authentication failed (HTTP {response.status} {code})")
    if code == statuses.THROTTLED:  # in a 200 (its 429s are GatewayRateLimited in transport)
        raise GatewayRateLimited("HyperPay is throttling our look-ups")
    if 200 <= response.status < 300:
        return
    if lookup and code == statuses.NOT_FOUND:
        raise _NotFound(description)
    if lookup and code == statuses.NO_SESSION:
        raise _NoSession(description)
    result = response.body.get("result")
    errors = result.get("parameterErrors") if isinstance(result, dict) else None
    detail = "; ".join(
        f"{e.get('name')}: {e.get('message')}" for e in errors or [] if isinstance(e, dict)
    )
    log.warning(
        "payment %s: HyperPay refused the request: %s %s %s", ref, code, description, detail
    )
    raise GatewayRejected(f"{description} ({detail})" if detail else description or code)


def _fresh(payment: Payment) -> bool:
    expires_at = payment.expires_at
    return expires_at is None or datetime.now(UTC) < expires_at


def _nothing_found(payment: Payment) -> Observation:
    """No transaction at all: pending while the checkout can still be paid, then expired."""
    if _fresh(payment):
        return Observation(S.PENDING, statuses.NOT_FOUND)
    return Observation(S.EXPIRED, statuses.NOT_FOUND, message=statuses.EXPIRED_MESSAGE)
