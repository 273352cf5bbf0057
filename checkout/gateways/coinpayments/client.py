"""CoinPayments legacy API v1 client (`api.php`, shared/protocols.md section A).

Every call is a form-encoded POST signed with HMAC-SHA512 of the exact body bytes (header
`HMAC`, keyed with the private key). The API answers HTTP 200 for its own errors, so the `error`
field of the envelope is what says whether a call worked. Payments are read by the numeric
`status` through one explicit table (`STATUS_TABLE` in statuses.py), never by the human
`status_text`; IPNs are verified and read in notifications.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ...money import Money, MoneyError, is_coin
from ..base import (
    CheckoutSession,
    CryptoInstructions,
    Gateway,
    GatewayConfigError,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    InboundNotification,
    Observation,
    ReturnUrls,
)
from ..currency import CurrencyRules
from ..transport import HttpTransport, call_budget
from . import notifications, statuses
from .notifications import sign
from .settings import DEFAULT_API_URL

if TYPE_CHECKING:
    from ...models import Payment

log = logging.getLogger(__name__)


#: `get_tx_info_multi` takes at most this many ids a call (protocols.md A.6)
MULTI_LIMIT = 25
#: `create_transaction` takes `amount` as a decimal string in `currency1` (protocols.md A.4); the
#: API documents no per-currency rule beyond that, so any positive ISO amount is written as is
RULES = CurrencyRules("CoinPayments")

# Error texts that mean our keys or account settings are wrong: a person must fix them.
_CONFIG_ERRORS = (
    "hmac",
    "signature",
    "api key",
    "public key",
    "private key",
    "permission",
    "api version",
    "invalid command",
    "merchant",
    "nonce",
)
# Error texts that mean "not now": CoinPayments throttles clients that make many errors.
_TRANSIENT_ERRORS = ("too many errors", "try again later", "temporarily", "maintenance")
# Personal data never stored with a payload (the funnel keeps payloads for staff).
_PERSONAL_KEYS = frozenset(
    {"email", "buyer_email", "buyer_name", "first_name", "last_name", "sender_ip", "phone"}
)


class CoinPaymentsGateway(Gateway):
    name = "coinpayments"
    # CoinPayments only needs a 2xx; its own sample handlers answer "IPN OK".
    notification_ack = ("IPN OK", 200)
    batch_size = MULTI_LIMIT
    late_money = True  # coins sent after the timeout still arrive (status -1 -> 100)

    @classmethod
    def currency_rules(cls, config: Mapping[str, Any]) -> CurrencyRules:
        return RULES

    def __init__(
        self,
        *,
        public_key: str,
        private_key: str,
        merchant_id: str,
        ipn_secret: str,
        currency2: str = "BTC",
        api_url: str = DEFAULT_API_URL,
        transport: HttpTransport,
    ) -> None:
        self.api_url = api_url
        self.public_key = public_key
        self._private_key = private_key.encode()
        self.merchant_id = merchant_id
        self._ipn_secret = ipn_secret.encode()
        self.currency2 = currency2.upper()
        self.transport = transport

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CoinPaymentsGateway:
        return cls(
            api_url=config.get("COINPAYMENTS_API_URL") or DEFAULT_API_URL,
            public_key=config.get("COINPAYMENTS_PUBLIC_KEY") or "",
            private_key=config.get("COINPAYMENTS_PRIVATE_KEY") or "",
            merchant_id=config.get("COINPAYMENTS_MERCHANT_ID") or "",
            ipn_secret=config.get("COINPAYMENTS_IPN_SECRET") or "",
            currency2=config.get("COINPAYMENTS_CURRENCY2") or "BTC",
            transport=HttpTransport.within(call_budget(config)),
        )

    # -- the API -----------------------------------------------------------------------------

    def encode(self, cmd: str, fields: Mapping[str, str]) -> tuple[bytes, str]:
        """The exact body bytes for `cmd` and their HMAC: what goes on the wire, and its proof.

        The signature covers these bytes and nothing else, so they are built once and sent as
        they are (never re-encoded by the HTTP library).
        """
        main = {"version": "1", "key": self.public_key, "cmd": cmd, "format": "json"}
        body = urlencode({**main, **fields}).encode("ascii")
        return body, sign(self._private_key, body)

    def call(self, cmd: str, fields: Mapping[str, str], *, ref: str = "-") -> Any:
        """One signed API call; returns `result` or raises the GatewayError the answer means."""
        if not (self.public_key and self._private_key):
            raise GatewayConfigError("CoinPayments API keys are not configured")
        body, signature = self.encode(cmd, fields)
        response = self.transport.request(
            "POST",
            self.api_url,
            data=body,
            headers={
                "HMAC": signature,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        envelope = response.body
        if not isinstance(envelope, dict) or "error" not in envelope:
            raise GatewayUnavailable(
                f"CoinPayments {cmd} answered HTTP {response.status} without an error field"
            )
        error = str(envelope["error"])
        if error != "ok":
            raise _classify(cmd, error, ref)
        if response.status >= 400:
            raise GatewayUnavailable(f"CoinPayments {cmd} answered HTTP {response.status}")
        return envelope.get("result")

    def create_checkout(self, payment: Payment, urls: ReturnUrls) -> CheckoutSession:
        """`create_transaction` for the payment's amount in its own currency.

        CoinPayments has no idempotency key: a retry opens a second transaction carrying the
        same `invoice` (our ref), which the IPN and the funnel then tie back to this payment.
        The shop's refs go only in `invoice`/`custom`; the buyer sees the product name.
        """
        if not is_coin(self.currency2):
            raise GatewayConfigError(
                f"COINPAYMENTS_CURRENCY2={self.currency2} is not a coin Tollgate can count"
            )
        RULES.require(payment.money)
        started = datetime.now(UTC)
        fields = {
            "amount": RULES.decimal_str(payment.money),
            "currency1": payment.currency,
            "currency2": self.currency2,
            "buyer_email": payment.order.email,
            "item_name": payment.order.product.name,
            "invoice": payment.ref,
            "custom": payment.order.ref,
            "ipn_url": urls.notify_url,
            "success_url": urls.return_url,
            "cancel_url": urls.cancel_url,
        }
        result = self.call("create_transaction", fields, ref=payment.ref)
        if not isinstance(result, dict):
            raise GatewayUnavailable("CoinPayments create_transaction gave no result object")
        try:
            txn_id = _required_str(result, "txn_id")
            redirect_url = _required_str(result, "checkout_url")
            address = _required_str(result, "address")
            coin_amount = Money.parse(result["amount"], self.currency2)
            confirms = statuses.as_int(result.get("confirms_needed"))
            timeout = statuses.as_int(result.get("timeout"))
        except (KeyError, MoneyError, ValueError) as exc:
            raise GatewayUnavailable(f"CoinPayments create_transaction answer: {exc}") from exc
        if confirms is None or timeout is None or coin_amount.amount <= 0:
            raise GatewayUnavailable("CoinPayments create_transaction answer lacks numbers")
        log.info(
            "payment %s: CoinPayments transaction %s for %s (%s), %d confirms, %d s",
            payment.ref,
            txn_id,
            coin_amount,
            payment.money,
            confirms,
            timeout,
        )
        return CheckoutSession(
            gateway_reference=txn_id,
            redirect_url=redirect_url,
            expires_at=started + timedelta(seconds=timeout),
            crypto=CryptoInstructions(
                address=address,
                amount=coin_amount,
                confirms_needed=confirms,
                dest_tag=str(result["dest_tag"]) if result.get("dest_tag") else None,
            ),
            data={
                key: str(result[key])
                for key in ("status_url", "qrcode_url", "dest_tag")
                if result.get(key)
            },
            raw=self.redact(result),
        )

    def fetch_status(self, payment: Payment) -> Observation:
        """`get_tx_info` for the payment's txn id. Reads only; moves no money."""
        txn_id = _txn_id(payment)
        result = self.call("get_tx_info", {"txid": txn_id}, ref=payment.ref)
        if not isinstance(result, dict):
            raise GatewayUnavailable("CoinPayments get_tx_info gave no result object")
        return self.observe_poll(result, payment)

    def fetch_statuses(self, payments: Iterable[Payment]) -> dict[str, Observation | GatewayError]:
        """`get_tx_info_multi`, 25 ids a call. A failed call or a per-id error is returned in
        place of the observations it concerns; the other chunks still count."""
        results: dict[str, Observation | GatewayError] = {}
        by_txn: dict[str, list[Payment]] = {}
        for payment in payments:
            try:
                by_txn.setdefault(_txn_id(payment), []).append(payment)
            except GatewayError as exc:
                results[payment.ref] = exc
        txn_ids = list(by_txn)
        for start in range(0, len(txn_ids), MULTI_LIMIT):
            chunk = txn_ids[start : start + MULTI_LIMIT]
            try:
                answer = self.call(
                    "get_tx_info_multi", {"txid": "|".join(chunk)}, ref=f"batch of {len(chunk)}"
                )
                if not isinstance(answer, dict):
                    raise GatewayUnavailable("CoinPayments get_tx_info_multi gave no result object")
            except GatewayError as exc:
                for txn_id in chunk:
                    for payment in by_txn[txn_id]:
                        results[payment.ref] = exc
                continue
            for txn_id in chunk:
                item = answer.get(txn_id)
                for payment in by_txn[txn_id]:
                    results[payment.ref] = self._multi_item(item, txn_id, payment)
        return results

    def _multi_item(self, item: Any, txn_id: str, payment: Payment) -> Observation | GatewayError:
        if not isinstance(item, dict):
            return GatewayUnavailable(f"CoinPayments left {txn_id} out of get_tx_info_multi")
        error = str(item.get("error", "ok"))
        if error != "ok":
            log.warning("payment %s: CoinPayments says for %s: %s", payment.ref, txn_id, error)
            return _classify("get_tx_info_multi", error, payment.ref)
        return self.observe_poll(item, payment)

    # -- reading answers ---------------------------------------------------------------------

    def observe_poll(self, info: Mapping[str, Any], payment: Payment) -> Observation:
        """An Observation from a `get_tx_info` result for `payment` (statuses.py maps it)."""
        return statuses.observe_poll(info, payment, self.currency2, self.redact(info))

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> InboundNotification:
        """Verify and read an IPN (notifications.py); anything unverified changes nothing."""
        return notifications.parse(
            headers,
            body,
            merchant_id=self.merchant_id,
            ipn_secret=self._ipn_secret,
            default_coin=self.currency2,
            redact=self.redact,
        )

    def redact(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Drop secrets and the buyer's personal data before anything is stored."""
        return {k: v for k, v in super().redact(data).items() if k.lower() not in _PERSONAL_KEYS}


def _classify(cmd: str, error: str, ref: str) -> GatewayError:
    """Which GatewayError an error envelope means (the API answers HTTP 200 either way)."""
    text = error.lower()
    log.warning("payment %s: CoinPayments %s error: %s", ref, cmd, error)
    if any(marker in text for marker in _TRANSIENT_ERRORS):
        return GatewayUnavailable(f"CoinPayments {cmd}: {error}")
    if any(marker in text for marker in _CONFIG_ERRORS):
        return GatewayConfigError(f"CoinPayments {cmd}: {error}")
    return GatewayRejected(f"CoinPayments {cmd}: {error}")


def _txn_id(payment: Payment) -> str:
    if not payment.gateway_reference:
        raise GatewayRejected(f"payment {payment.ref} has no CoinPayments txn_id yet")
    return payment.gateway_reference


def _required_str(result: Mapping[str, Any], key: str) -> str:
    value = result.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing {key}")
    return value
